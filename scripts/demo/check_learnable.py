#!/usr/bin/python3
"""Checks that the synthetic demo dataset is learnable fast by a tiny ResNetV2, as `carclass demo` trains it.

Run with Debian's python (PyTorch 1.13): /usr/bin/python3 scripts/demo/check_learnable.py DIR [--epochs 30] ...
Defaults are the tuned demo preset: 128x96 input (as generated), stem 16, widths 16/32/64/128, batch 32,
Adam lr 1e-3 with a per-epoch cosine decay over 30 epochs, flip + seed brightness/contrast augmentation.
Loads the JPEGs, labels them `make_model` from the file name, preprocesses x/127.5-1, splits stratified
56.25/18.75/25 with a seed, trains with Adam, picks the epoch with the best val_loss (EarlyStopping with
restore_best_weights) and prints test accuracy and times. Also prints a mean-colour baseline, to show that
the classes are not separable by colour alone.
"""
import argparse
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image


def load(directory):
    files = sorted(f for f in os.listdir(directory) if f.lower().endswith(('.jpg', '.jpeg')))
    labels = []
    for f in files:
        fields = f.rsplit('.', 1)[0].split('_')
        if len(fields) != 17:
            sys.exit(f'{f}: expected 16 fields and an id, got {len(fields)} parts')
        labels.append(fields[0] + '_' + fields[1])
    classes = sorted(set(labels))
    y = np.array([classes.index(l) for l in labels], dtype=np.int64)
    x = np.stack([np.asarray(Image.open(os.path.join(directory, f)).convert('RGB')) for f in files])
    return x, y, classes


def stratified_split(y, seed, ratios=(0.5625, 0.1875, 0.25)):
    rng = np.random.RandomState(seed)
    parts = ([], [], [])
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        n_train = int(round(len(idx) * ratios[0]))
        n_val = int(round(len(idx) * ratios[1]))
        parts[0].extend(idx[:n_train])
        parts[1].extend(idx[n_train:n_train + n_val])
        parts[2].extend(idx[n_train + n_val:])
    return [np.array(sorted(p)) for p in parts]


class Block(nn.Module):
    """Keras ResNetV2 block2 with conv_shortcut=True: pre-activation bottleneck, stride in the 3x3 conv."""

    def __init__(self, cin, filters, stride, momentum):
        super().__init__()
        bn = lambda c: nn.BatchNorm2d(c, eps=1.001e-5, momentum=momentum)
        self.preact_bn = bn(cin)
        self.shortcut = nn.Conv2d(cin, 4 * filters, 1, stride=stride)
        self.conv1 = nn.Conv2d(cin, filters, 1, bias=False)
        self.bn1 = bn(filters)
        self.conv2 = nn.Conv2d(filters, filters, 3, stride=stride, padding=1, bias=False)
        self.bn2 = bn(filters)
        self.conv3 = nn.Conv2d(filters, 4 * filters, 1)

    def forward(self, x):
        p = F.relu(self.preact_bn(x))
        s = self.shortcut(p)
        x = F.relu(self.bn1(self.conv1(p)))
        x = F.relu(self.bn2(self.conv2(x)))
        return s + self.conv3(x)


class TinyResNetV2(nn.Module):
    """Stem conv 7x7/2 + maxpool 3/2, one block per stack (strides 2, 2, 2, 1 like ResNet50V2), post BN-ReLU, GAP, dense."""

    def __init__(self, classes, stem=16, widths=(16, 32, 64, 128), momentum=0.01):
        super().__init__()
        self.stem = nn.Conv2d(3, stem, 7, stride=2, padding=3)
        blocks, cin = [], stem
        for i, f in enumerate(widths):
            blocks.append(Block(cin, f, 2 if i < len(widths) - 1 else 1, momentum))
            cin = 4 * f
        self.blocks = nn.Sequential(*blocks)
        self.post_bn = nn.BatchNorm2d(cin, eps=1.001e-5, momentum=momentum)
        self.head = nn.Linear(cin, classes)

    def forward(self, x):
        x = F.max_pool2d(self.stem(x), 3, stride=2, padding=1)
        x = F.relu(self.post_bn(self.blocks(x)))
        return self.head(x.mean((2, 3)))


def augment(x, gen, p):
    """Seed augmentation on [-1, 1] values: flip p 0.5; with probability p brightness +-0.1 and contrast 0.8-1.2 per channel."""
    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    on = (torch.rand(n, generator=gen) < p).float()[:, None, None, None]
    delta = (torch.rand(n, 1, 1, 1, generator=gen) * 0.2 - 0.1) * on
    factor = 1 + (torch.rand(n, 3, 1, 1, generator=gen) * 0.4 - 0.2) * on
    mean = x.mean((2, 3), keepdim=True)
    return (x - mean) * factor + mean + delta


def evaluate(model, x, y, batch):
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out = model(x[i:i + batch])
            loss += F.cross_entropy(out, y[i:i + batch], reduction='sum').item()
            correct += (out.argmax(1) == y[i:i + batch]).sum().item()
    return loss / len(x), correct / len(x)


def colour_baseline(x, y, tr, te):
    """Nearest-centroid and 5-NN on the mean RGB of each picture."""
    m = x.reshape(len(x), -1, 3).mean(1)
    mu, sd = m[tr].mean(0), m[tr].std(0) + 1e-6
    m = (m - mu) / sd
    cents = np.stack([m[tr][y[tr] == c].mean(0) for c in np.unique(y)])
    nc = (np.argmin(((m[te][:, None] - cents[None]) ** 2).sum(2), 1) == y[te]).mean()
    d = ((m[te][:, None] - m[tr][None]) ** 2).sum(2)
    nn5 = np.argsort(d, 1)[:, :5]
    votes = np.array([np.bincount(y[tr][r], minlength=len(cents)).argmax() for r in nn5])
    return nc, (votes == y[te]).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('dir')
    ap.add_argument('--epochs', type=int, default=30)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--stem', type=int, default=16)
    ap.add_argument('--widths', default='16,32,64,128')
    ap.add_argument('--augment', type=float, default=0.7, help='probability of brightness/contrast per image (flip always on); -1 disables all augmentation')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--schedule', choices=('constant', 'cosine'), default='cosine', help='cosine: lr decays to 0 over the epochs, per epoch')
    ap.add_argument('--bn-momentum', type=float, default=0.01, help='PyTorch convention; Keras momentum 0.99 = 0.01')
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)

    t0 = time.time()
    xu8, y, classes = load(args.dir)
    tr, va, te = stratified_split(y, args.seed)
    nc, nn5 = colour_baseline(xu8.astype(np.float32), y, tr, te)
    x = torch.from_numpy(xu8).permute(0, 3, 1, 2).float() / 127.5 - 1
    yt = torch.from_numpy(y)
    t_load = time.time() - t0
    print(f'{len(y)} images {xu8.shape[2]}x{xu8.shape[1]} (WxH), {len(classes)} classes; train/val/test {len(tr)}/{len(va)}/{len(te)}; load {t_load:.1f} s')
    print(f'mean-colour baseline test accuracy: nearest centroid {nc:.3f}, 5-NN {nn5:.3f} (chance {1 / len(classes):.3f})')

    widths = tuple(int(w) for w in args.widths.split(','))
    model = TinyResNetV2(len(classes), args.stem, widths, args.bn_momentum)
    params = sum(p.numel() for p in model.parameters())
    print(f'model: stem {args.stem}, widths {widths} (bottleneck outputs x4), BN momentum {args.bn_momentum}, {params} parameters')
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    best = (float('inf'), None, 0)
    t_train = time.time()
    for epoch in range(1, args.epochs + 1):
        if args.schedule == 'cosine':
            for g in opt.param_groups:
                g['lr'] = args.lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / args.epochs))
        model.train()
        order = torch.randperm(len(tr), generator=gen)
        tl, tc = 0.0, 0
        for i in range(0, len(tr), args.batch):
            idx = torch.from_numpy(tr)[order[i:i + args.batch]]
            xb, yb = x[idx], yt[idx]
            if args.augment >= 0:
                xb = augment(xb, gen, args.augment)
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tl += loss.item() * len(idx)
            tc += (out.argmax(1) == yb).sum().item()
        vl, vacc = evaluate(model, x[va], yt[va], 128)
        if vl < best[0]:
            best = (vl, {k: v.clone() for k, v in model.state_dict().items()}, epoch)
        print(f'epoch {epoch:2d}  loss {tl / len(tr):.4f} acc {tc / len(tr):.3f}  val_loss {vl:.4f} val_acc {vacc:.3f}  {time.time() - t_train:.1f} s', flush=True)
    train_s = time.time() - t_train
    _, last_acc = evaluate(model, x[te], yt[te], 128)
    model.load_state_dict(best[1])
    t_eval = time.time()
    test_loss, test_acc = evaluate(model, x[te], yt[te], 128)
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[te][i:i + 128]).argmax(1) for i in range(0, len(te), 128)]).numpy()
    print('per-class test accuracy: ' + ', '.join(f'{c.split("_")[1]} {(pred[y[te] == k] == k).mean():.2f}' for k, c in enumerate(classes)))
    conf = np.zeros((len(classes), len(classes)), dtype=int)
    np.add.at(conf, (y[te], pred), 1)
    print('confusion (rows true, columns predicted, class order as above):')
    print(conf)
    cpu = time.process_time()
    print(f'RESULT test_acc {test_acc:.4f} (best val_loss epoch {best[2]}; last epoch {last_acc:.4f}) test_loss {test_loss:.4f} '
          f'train {train_s:.1f} s (process CPU {cpu:.0f} s) eval {time.time() - t_eval:.1f} s total {time.time() - t0:.1f} s '
          f'epochs {args.epochs} batch {args.batch} lr {args.lr} {args.schedule} params {params}')


if __name__ == '__main__':
    main()
