"""The trainer end to end on a tiny model (byte text encoder, 16 px synthetic scenes)."""
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import TINY
from test_model import inputs, t2i_inputs
from mofo.checkpoint import load_checkpoint
from mofo.config import ModelConfig, SamplingConfig
from mofo.train import make_train_config, train

TINY_TOML = """
preset = "tiny"
data = "synth"
batch_size = 4
lr = 1e-3
warmup = 2
log_every = 1
sample_every = 1000
precision = "fp32"
[model]
""" + "".join(f"{k} = {json.dumps(list(v) if isinstance(v, tuple) else v)}\n" for k, v in TINY.to_dict().items()
              if v != ModelConfig.__dataclass_fields__[k].default and k != "axes_dim") + "axes_dim = [4, 4, 4, 4]\n"
ENV = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")


def write_config(tmp_path: Path, extra: str = "", name: str = "cfg.toml") -> Path:
    path = tmp_path / name
    head, model = TINY_TOML.split("[model]")
    path.write_text(head + extra + "\n[model]" + model)
    return path


def cli(*args, check=True):
    out = subprocess.run([sys.executable, "-m", "mofo.cli", *map(str, args)], capture_output=True, text=True, env=ENV)
    if check and out.returncode:
        raise AssertionError(out.stderr[-3000:])
    return out


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("pre")
    cfg = make_train_config(write_config(tmp), {"steps": 6, "ckpt_every": 3, "stage": "pretrain"})
    return train(cfg, tmp / "run")


def test_pretrain_writes_checkpoints_samples_and_logs(pretrained):
    run = pretrained.parent
    model, config = load_checkpoint(pretrained)
    assert not model.with_depth and config["train"]["stage"] == "pretrain"
    assert (run / "checkpoints" / "latest").read_text() == "step_0000006"
    assert (run / "samples" / "step_0000006.png").is_file()
    assert len(metrics(run)) == 6 and all(m["loss"] > 0 for m in metrics(run))
    assert list((run / "tb").iterdir())


def test_post_training_start_point(pretrained, tmp_path):
    cfg = make_train_config(write_config(tmp_path), {"stage": "post", "init": str(pretrained), "steps": 3})
    from mofo.train import build_models

    model, teacher = build_models(cfg)
    t2i, _ = load_checkpoint(pretrained)
    sd = model.state_dict()
    for k, v in t2i.state_dict().items():
        assert torch.equal(sd[k], v), k
    for k in sd:
        if ".depth_attn." in k or ".depth_mlp." in k:
            assert torch.equal(sd[k], sd[k.replace("depth_", "img_")]), k
    assert not teacher.with_depth and not any(p.requires_grad for p in teacher.parameters())

    # teacher unchanged and gradient-free after real post-training steps
    import mofo.train as T
    seen = {}
    orig = T.build_models

    def spy(c):
        m, t = orig(c)
        seen["teacher"], seen["before"] = t, {k: v.clone() for k, v in t.state_dict().items()}
        return m, t

    T.build_models = spy
    try:
        final = train(cfg, tmp_path / "post")
    finally:
        T.build_models = orig
    assert all(torch.equal(seen["before"][k], v) for k, v in seen["teacher"].state_dict().items())
    assert all(p.grad is None for p in seen["teacher"].parameters())
    post, config = load_checkpoint(final)
    assert post.with_depth and config["train"]["stage"] == "post"
    assert {"loss_depth", "loss_img", "loss_distill", "loss_joint"} <= set(metrics(tmp_path / "post")[0])


def test_grow_deepens_the_init_and_resumes(pretrained, tmp_path):
    """--set grow=true with larger block counts: the run starts from the init's function, saves the
    grown architecture, and resumes from its own checkpoint; without grow the counts are an error."""
    from mofo.train import build_models

    base, _ = load_checkpoint(pretrained)
    n = base.cfg.n_single + 1
    more = {"stage": "pretrain", "init": str(pretrained), "model.n_single": n}
    with pytest.raises(ValueError, match="grow=true"):
        build_models(make_train_config(write_config(tmp_path), more))
    cfg = make_train_config(write_config(tmp_path), {**more, "grow": True, "steps": 2, "ckpt_every": 1})
    model, _ = build_models(cfg)
    assert len(model.single_blocks) == n
    x = t2i_inputs(inputs(base.cfg))
    assert torch.equal(model(**x)[0], base.float()(**x)[0])
    final = train(cfg, tmp_path / "run")
    grown, config = load_checkpoint(final)
    assert grown.cfg.n_single == n and config["model"]["n_single"] == n
    resumed = train(replace(cfg, steps=3), tmp_path / "run", resume=True)
    assert load_checkpoint(resumed)[0].cfg.n_single == n
    assert len(metrics(tmp_path / "run")) == 3


def test_losses_fall(tmp_path):
    cfg = make_train_config(write_config(tmp_path), {"steps": 60, "ckpt_every": 60, "lr": 3e-3})
    train(cfg, tmp_path / "run")
    losses = [m["loss"] for m in metrics(tmp_path / "run")]
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10


def test_bf16_tracks_fp32(tmp_path):
    runs = {}
    for precision in ("fp32", "bf16"):
        cfg = make_train_config(write_config(tmp_path), {"steps": 5, "ckpt_every": 5, "precision": precision})
        train(cfg, tmp_path / precision)
        runs[precision] = [m["loss"] for m in metrics(tmp_path / precision)]
    for a, b in zip(runs["fp32"], runs["bf16"]):
        assert abs(a - b) / a < 0.05, runs


def test_kill_and_resume_is_bit_exact(tmp_path):
    config = write_config(tmp_path, "steps = 150\nckpt_every = 10")
    cli("train", "--config", config, "--out", tmp_path / "ref")
    proc = subprocess.Popen([sys.executable, "-m", "mofo.cli", "train", "--config", config, "--out", tmp_path / "cut"],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = tmp_path / "cut" / "checkpoints" / "latest"
    while not latest.exists() and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert latest.read_text() != "step_0000150"
    cli("train", "--config", config, "--out", tmp_path / "cut", "--resume")
    for name in ("model.safetensors", "ema.safetensors"):
        a = load_file(tmp_path / "ref" / "checkpoints" / "step_0000150" / name)
        b = load_file(tmp_path / "cut" / "checkpoints" / "step_0000150" / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_bad_input_gives_one_line_errors(tmp_path, pretrained):
    config = write_config(tmp_path)
    typo = cli("train", "--config", config, "--out", tmp_path / "a", "--set", "flow.p_jiont=0.5", check=False)
    assert typo.returncode == 2 and "did you mean 'flow.p_joint'" in typo.stderr
    assert len(typo.stderr.strip().splitlines()) == 1
    missing = cli("train", "--config", config, "--out", tmp_path / "b", "--data", tmp_path / "nope", check=False)
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((pretrained / "config.json").read_text())
    (broken / "model.safetensors").write_bytes((pretrained / "model.safetensors").read_bytes()[:200])
    corrupt = cli("train", "--config", config, "--out", tmp_path / "c", "--stage", "post", "--init", broken, check=False)
    assert corrupt.returncode == 2 and "corrupt or truncated" in corrupt.stderr and "Traceback" not in corrupt.stderr

    exists = cli("train", "--config", config, "--out", pretrained.parent, check=False)
    assert exists.returncode == 2 and "--resume" in exists.stderr


def torchrun(nproc: int, *args):
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--standalone",
           str(Path(__file__).parent / "dist_worker.py"), *map(str, args)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=dict(ENV, PYTHONPATH=str(Path(__file__).parent)))
    assert out.returncode == 0, out.stderr[-4000:]


def test_ddp_two_processes_match_one(tmp_path):
    """2 gloo processes x 2 samples == 1 process x 4 samples: same losses (float32
    reduction order differs, tolerance 1e-5 relative) and identical replicas."""
    config = write_config(tmp_path, "steps = 3\nckpt_every = 3")
    torchrun(2, config, tmp_path / "ddp")
    torchrun(1, config, tmp_path / "single")
    a, b = metrics(tmp_path / "ddp"), metrics(tmp_path / "single")
    for x, y in zip(a, b):
        assert abs(x["loss"] - y["loss"]) <= 1e-5 * abs(y["loss"]), (x["loss"], y["loss"])
    r0, r1 = (load_file(tmp_path / "ddp" / f"params_rank{r}.safetensors") for r in (0, 1))
    assert all(torch.equal(r0[k], r1[k]) for k in r0)


def test_fsdp_two_processes_checkpoint_loads_single(tmp_path):
    config = write_config(tmp_path, "steps = 2\nckpt_every = 2")
    torchrun(2, config, tmp_path / "fsdp", "--fsdp")
    model, _ = load_checkpoint(tmp_path / "fsdp" / "final")
    ref = load_file(tmp_path / "fsdp" / "params_rank0.safetensors")
    raw, _ = load_checkpoint(tmp_path / "fsdp" / "checkpoints" / "step_0000002")
    assert all(torch.equal(raw.state_dict()[k], ref[k]) for k in ref)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_non_finite_losses_skip_then_abort(tmp_path, monkeypatch):
    """NaN losses from step 4 on: skipped with warnings, then an abort naming the last good checkpoint."""
    import mofo.train as T

    real = T.training_losses
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        out = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] > 4:
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(T, "training_losses", flaky)
    cfg = make_train_config(write_config(tmp_path), {"steps": 20, "ckpt_every": 2, "max_bad_steps": 3})
    with pytest.warns(UserWarning, match="non-finite"), pytest.raises(T.TrainingAborted, match="step_0000004"):
        train(cfg, tmp_path / "run")
    good, _ = load_checkpoint(tmp_path / "run" / "checkpoints" / "step_0000004")
    assert all(torch.isfinite(p).all() for p in good.parameters())
    assert (tmp_path / "run" / "checkpoints" / "latest").read_text() == "step_0000004"


def test_config_keys_of_older_runs_still_read(tmp_path):
    """Old [model] block-count names and `flow.mu` (now the model's `shift_mu`) keep working."""
    cfg = make_train_config(None, {"model.depth_double": 3, "model.depth_decoder": 2, "flow.mu": 0.5})
    assert cfg.model == {"n_double": 3, "n_depth_decoder": 2, "shift_mu": 0.5}
    assert not hasattr(cfg.flow, "mu")


def test_sample_grid_takes_its_steps_and_guidance_from_the_configs(monkeypatch):
    """The preview grid samples with `TrainConfig.sample_steps` / `sample_cfg`, its i2d row with
    `SamplingConfig.depth_cfg` (no numbers of its own)."""
    from mofo import sampling
    from mofo.codecs import DepthCodec, make_image_codec
    from mofo.model import ModalityDiT
    from mofo.text import load_text_encoder
    from mofo.train import TrainConfig, sample_grid

    calls, real = [], sampling.sample
    monkeypatch.setattr(sampling, "sample", lambda *a, **kw: calls.append((a[1], kw["steps"], kw["cfg_scale"]))
                        or real(*a, **kw))
    g = torch.Generator().manual_seed(0)
    fixed = {"image": torch.rand(2, 3, 16, 16, generator=g), "depth": torch.rand(2, 1, 16, 16, generator=g) + 1,
             "valid_mask": torch.ones(2, 1, 16, 16, dtype=torch.bool), "caption": ["a", "b"]}
    codec = make_image_codec(TINY)
    png = sample_grid(ModalityDiT(TINY.replace(with_depth=True)), fixed, TrainConfig(sample_steps=2, sample_cfg=3.5),
                      load_text_encoder("bytes", TINY.txt_dim, TINY.txt_len), codec, DepthCodec(TINY.patch_size),
                      (16 // codec.downsample,) * 2, "cpu")
    assert calls == [("joint", 2, 3.5), ("i2d", 2, SamplingConfig().depth_cfg), ("d2i", 2, 3.5)]
    assert png.shape == (3 * 16, 4 * 16, 3)


def test_post_training_config_describes_the_weights(pretrained, tmp_path):
    """[model] overrides build the model from the final config: a change the weights cannot take
    fails at once; one they can take is saved and loads back."""
    config = write_config(tmp_path)
    bigger = cli("train", "--config", config, "--out", tmp_path / "w", "--stage", "post", "--init", pretrained,
                "--steps", 1, "--set", "model.mlp_ratio=4.0", check=False)
    assert bigger.returncode == 2 and "does not fit the model" in bigger.stderr and "Traceback" not in bigger.stderr
    cfg = make_train_config(config, {"stage": "post", "init": str(pretrained), "steps": 1, "model.n_depth_decoder": 2,
                                     "model.shift_mu": 0.8})
    model, config = load_checkpoint(train(cfg, tmp_path / "d"))
    assert model.cfg.n_depth_decoder == 2 == len(model.depth_decoder_blocks) and model.cfg.shift_mu == 0.8
    assert config["sampling"] == SamplingConfig().to_dict()


def test_pretraining_warm_starts_from_a_joint_models_image_stream(pretrained, tmp_path):
    """`init` in pre-training takes a checkpoint's text-to-image weights (a joint model's depth
    stream dropped, float16 weights cast to float32) and trains on from them."""
    from mofo.checkpoint import save_checkpoint
    from mofo.train import build_models

    joint = load_checkpoint(pretrained)[0].add_depth_stream(copy_image=True).half()
    save_checkpoint(joint, tmp_path / "joint")
    cfg = make_train_config(write_config(tmp_path), {"stage": "pretrain", "init": str(tmp_path / "joint"),
                                                      "steps": 2, "model.image_target": "x"})
    model, teacher = build_models(cfg)
    assert teacher is None and not model.with_depth and model.training and model.cfg.image_target == "x"
    joint_sd = joint.state_dict()
    sd = model.state_dict()
    assert not any("depth" in k for k in sd) and len(sd) < len(joint_sd)
    for k, v in sd.items():
        assert v.dtype == torch.float32 and torch.equal(v, joint_sd[k].float()), k
    warm, config = load_checkpoint(train(cfg, tmp_path / "warm"))
    assert not warm.with_depth and warm.cfg.image_target == "x" and config["train"]["init"] == str(tmp_path / "joint")
    broken = {k: v for k, v in joint_sd.items() if k != "depth_in.weight"}
    from mofo.checkpoint import write_safetensors
    write_safetensors(tmp_path / "joint" / "model.safetensors", broken)
    with pytest.raises(ValueError, match="depth_in.weight"):
        build_models(cfg)


def test_post_training_continues_a_joint_model(pretrained, tmp_path):
    """`--stage post --init JOINT` keeps the joint model's weights (depth stream included, float16
    cast to float32) and takes its image stream, frozen, as the self-distillation teacher."""
    from mofo.checkpoint import save_checkpoint
    from mofo.train import build_models

    joint = load_checkpoint(pretrained)[0].add_depth_stream(copy_image=True)
    torch.nn.init.normal_(joint.depth_final_layer.linear.weight)  # a trained depth head is not zero
    save_checkpoint(joint.half(), tmp_path / "joint")
    cfg = make_train_config(write_config(tmp_path), {"stage": "post", "init": str(tmp_path / "joint"), "steps": 1})
    model, teacher = build_models(cfg)
    assert model.with_depth and model.training and not teacher.with_depth and not teacher.training
    for k, v in model.state_dict().items():
        assert v.dtype == torch.float32 and torch.equal(v, joint.state_dict()[k].float()), k
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, joint.state_dict()[k].float()) and not v.requires_grad, k
    student = model.state_dict()
    assert all(v.data_ptr() != student[k].data_ptr() for k, v in teacher.state_dict().items())  # frozen apart
    assert load_checkpoint(train(cfg, tmp_path / "more"))[0].with_depth
    assert "loss_distill" in metrics(tmp_path / "more")[0]


def test_post_training_from_scratch_and_regression(tmp_path):
    from mofo.train import build_models

    cfg = make_train_config(write_config(tmp_path), {"stage": "post", "init": "scratch", "steps": 2,
                                                      "flow.regression": True})
    model, teacher = build_models(cfg)
    assert teacher is None and model.with_depth and model.cfg.hidden_size == TINY.hidden_size
    sd = model.state_dict()
    for k in sd:
        if ".depth_attn." in k:
            assert torch.equal(sd[k], sd[k.replace("depth_", "img_")]), k
    final = train(cfg, tmp_path / "scratch")
    post, config = load_checkpoint(final)
    assert post.with_depth and config["train"]["init"] == "scratch" and config["train"]["flow"]["regression"]
    rows = metrics(tmp_path / "scratch")
    assert all(r["loss_img"] == 0 and "loss_distill" not in r for r in rows)


def test_encode_batch_runs_the_text_encoder_in_bf16_when_training_in_bf16():
    """bf16 text states: float32 out, within bf16 rounding of the fp32 states, and not identical
    (so autocast reached the encoder's matmuls)."""
    from mofo.codecs import DepthCodec, ImageCodec
    from mofo.flow import Draws, FlowConfig
    from mofo.text import load_text_encoder
    from mofo.train import TrainConfig, encode_batch

    text = load_text_encoder("minilm", 384, 32)
    cfg = TrainConfig(flow=FlowConfig(caption_dropout=0.0))
    batch = {"image": torch.rand(2, 3, 16, 16), "depth": torch.rand(2, 1, 16, 16) + 1,
             "valid_mask": torch.ones(2, 1, 16, 16, dtype=torch.bool),
             "caption": ["a red ball on a wooden floor", "a city street with two parked cars"]}

    def states(bf16):
        rng = Draws(torch.Generator().manual_seed(0), 0, 1)
        return encode_batch(batch, cfg, rng, text, ImageCodec(4), DepthCodec(4), (4, 4), torch.device("cpu"), bf16)["txt"]

    full, half = states(False), states(True)
    assert full.dtype == half.dtype == torch.float32 and full.shape == half.shape == (2, 32, 384)
    rel = ((full - half).norm() / full.norm()).item()
    assert 1e-4 < rel < 3e-2
    assert torch.equal(full, text(batch["caption"]))
