import numpy as np
from mofo.data.benchmarks import open_benchmark
ds = open_benchmark("synth", "data/mixval64")
r = []
for i in range(len(ds)):
    s = ds[i]; d = np.asarray(s["depth"], np.float64).squeeze(); v = np.asarray(s["valid_mask"]).squeeze() > 0
    u = d[v] / d[v].mean(); r.append(u.max())
    if i == 0: print("valid frac", v.mean())
r = np.array(r); print("max unit-mean depth per image: median %.2f 90%% %.2f 99%% %.2f max %.2f" % (np.median(r), np.percentile(r, 90), np.percentile(r, 99), r.max()))
