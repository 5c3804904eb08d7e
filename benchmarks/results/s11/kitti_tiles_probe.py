import numpy as np, torch
from pathlib import Path
from scipy import ndimage
from mofo.data.benchmarks import open_benchmark
from mofo.data import to_uint8
from mofo.pipeline import Pipeline, pool_sparse, unfit, COMPLETE_SMOOTH
from mofo.completion import fuse, interpolate_points
from mofo.align import fit_scale_shift
from mofo.evaluate import depth_metrics, eval_mask

pipe = Pipeline.from_pretrained()

@torch.no_grad()
def estimate(image, sparse, seed=0):
    tokens, box = pipe._encode_image(image)
    pooled, valid = pool_sparse(sparse, pipe.res)
    values, known = pipe.depth_codec.encode(pooled, valid)
    txt, unc = pipe._text([""])
    _, depth = pipe._sample("i2d", txt, unc, pipe.grid, image=tokens, known=(values, known), steps=1,
                            generator=pipe._generator(seed))
    est = unfit(pipe.decode_depth(depth).float(), box, sparse.shape[:2])[0, 0].numpy().astype(np.float64)
    per = COMPLETE_SMOOTH * pipe.depth_codec.patch_size
    return ndimage.gaussian_filter(est, (per * sparse.shape[0] / box[2], per * sparse.shape[1] / box[3]), mode="nearest")

def tiled(image, sparse, seed=0):
    h, w = sparse.shape
    n = int(np.ceil(w / h)) + 1
    lefts = np.linspace(0, w - h, n).round().astype(int)
    acc = np.zeros((h, w)); wsum = np.zeros((h, w))
    ramp = np.minimum(np.arange(h) + 1, np.arange(h)[::-1] + 1).astype(np.float64)
    for l in lefts:
        sp = sparse[:, l:l + h]; kn = sp > 0
        est = estimate(image[:, l:l + h], sp, seed)
        s, t = fit_scale_shift(est[kn], sp[kn].astype(np.float64))
        acc[:, l:l + h] += (s * est + t) * ramp; wsum[:, l:l + h] += ramp
    return acc / wsum

d = open_benchmark("kitti_velodyne", Path("../shared/realdata/kitti_object_velodyne"))
res = {}
for i in range(len(d)):
    s = d[i]
    image, gt = to_uint8(s["image"]), s["depth"][0].numpy().astype(np.float64)
    scan = s["valid_mask"][0].numpy(); spec = d.spec_of(i)
    mask = eval_mask(gt, scan, spec)
    draw = np.random.default_rng(i).random(gt.shape)
    for share in (0.05, 0.2, 0.5):
        known = scan & (draw < share)
        sparse = np.where(known, gt, 0).astype(np.float32)
        on = mask & scan & ~known
        preds = {"linear": interpolate_points(sparse, known, "linear"),
                 "complete": pipe.complete(image, sparse, seed=i)}
        est_t = tiled(image, sparse, i)
        preds["tiled fused"], wt = fuse(est_t, sparse, known, seed=i)
        from mofo.completion import guided
        preds["tiled guided"] = guided(est_t, sparse, known)
        est_w = estimate(image, sparse, i)
        preds["whole guided"] = guided(est_w, sparse, known)
        for k, p in preds.items():
            p = np.clip(p, spec.min_depth, spec.max_depth)
            res.setdefault((share, k), []).append(depth_metrics(p[on], gt[on])["abs_rel"])
        print(i, share, "w tiled", round(wt, 3), flush=True)
for (share, k), v in sorted(res.items()):
    print(f"{share:.2f} {k:14s} {np.mean(v):.5f}")
