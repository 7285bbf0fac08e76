"""Pillow + numpy (and torchvision when installed): decode + crop_or_pad + tf preprocessing.
Usage: pillow_bench.py SECONDS H W FILE... ; prints JSON {"pillow": img/s, "torchvision": img/s or null}."""
import io, json, sys, time
import numpy as np
from PIL import Image

seconds, height, width = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
blobs = [open(f, 'rb').read() for f in sys.argv[4:]]

def crop_or_pad(x):
    h, w = x.shape[:2]
    out = np.zeros((height, width, 3), x.dtype)
    ch, cw = max((h - height) // 2, 0), max((w - width) // 2, 0)
    ph, pw = max((height - h) // 2, 0), max((width - w) // 2, 0)
    hh, ww = min(h, height), min(w, width)
    out[ph:ph + hh, pw:pw + ww] = x[ch:ch + hh, cw:cw + ww]
    return out

def rate(fn):
    for b in blobs[:4]:
        fn(b)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for b in blobs:
            fn(b)
        n += len(blobs)
    return n / (time.perf_counter() - start)

def pillow(b):
    x = np.asarray(Image.open(io.BytesIO(b)).convert('RGB'))
    return crop_or_pad(x).astype(np.float32) / 127.5 - 1.0

result = {'pillow': rate(pillow), 'torchvision': None}
try:
    import torch
    from torchvision.io import decode_jpeg
    torch.set_num_threads(1)
    def tv(b):
        t = decode_jpeg(torch.frombuffer(bytearray(b), dtype=torch.uint8)).permute(1, 2, 0).numpy()
        return crop_or_pad(t).astype(np.float32) / 127.5 - 1.0
    result['torchvision'] = rate(tv)
except Exception:
    pass
print(json.dumps(result))
