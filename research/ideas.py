"""One change at a time to the best method, on Fashion-MNIST: the runs behind the table
"What helped and what did not" in docs/results.md.

Whole runs: ``ContrastiveSCAN`` with the given parameters (JSON, over the ``best``
preset's defaults), optionally with the deeper CNN, fitted on the 60,000 training
images; test accuracy after Hungarian matching and that of K-Means on the encoder's
features (a second view of the features' quality), and the SCAN loss of the head the
run kept. ``--save PATH`` keeps the encoder, and the clusters of the training images in
PATH.labels.npy.

    python benchmarks/bench_ideas.py run --seed 0 --params '{"temperature": 0.2}'
    python benchmarks/bench_ideas.py run --seed 0 --arch deep --save deep.safetensors

``--arch wide``: the base CNN with twice the channels. ``--arch cc``: the base CNN
trained with Contrastive Clustering's loss (Li et al., AAAI 2021): SimCLR's plus a
cluster head (10 softmax outputs) whose columns are contrasted between the two views
(temperature 1), minus the entropy of its mean assignment; the
cluster head is dropped and SCAN runs on the features, as for the other encoders.
``--arch nnclr``: NNCLR's positives (Dwibedi et al., ICCV 2021): each view's projection
is replaced by its nearest neighbour in a queue of the last 8,192 first-view projections,
and contrasted with the other view of the same image (the other images' second views as
negatives). ``--arch fd``: SimCLR's loss plus IDFD's feature decorrelation (Tao et al.,
ICLR 2021). ``--arch barlow``: Barlow Twins' loss (Zbontar et al., ICML 2021) on a
512-wide projector. ``--arch dcl``: the debiased contrastive loss (Chuang et al.,
NeurIPS 2020) with a class prior of 1 / 10. ``--arch multicrop``: SwAV's multi-crop
(Caron et al., NeurIPS 2020): four local crops (15-40 % of the area) beside the two
views, each contrasted with both.

The views: ``--augment JSON`` overrides keywords of ``contrastive.augment`` (``noise``,
``jitter``, ...); ``--rotate DEG`` adds a rotation of up to DEG degrees either way,
``--erase P`` Random Erasing, ``--blur P`` a Gaussian blur, ``--solarize P`` BYOL's
solarisation, ``--invert P`` an inversion and ``--tone P`` a random tone curve, each with
probability P; ``--elastic PIXELS`` an elastic deformation. (A random gamma is the
package's: ``--params '{"gamma": 2}'``.) They apply to the contrastive training and to
the SCAN step's views alike.

    python benchmarks/bench_ideas.py run --seed 0 --augment '{"jitter": 0}'

SCAN-step variants, on saved encoders (several: their unit-length features side by
side), with ``--views N`` augmented views an image (4 in the package):

- ``base``: as the package;
- ``avg``: neighbours mined on features averaged over the augmented views;
- ``whiten``: neighbours mined on PCA-whitened features (``--components N`` axes);
- ``shared``: the ``--neighbours`` of the ``--pool P`` nearest that share most of the
  image's P nearest (shared-nearest-neighbour re-ranking);
- ``self``: then class-balanced self-labelling (the most confident half of each
  cluster, cross entropy on views, frozen features);
- ``knn``: each image's cluster probabilities averaged with its 20 nearest training
  images';
- ``temi``: the heads trained with TEMI's loss instead of SCAN's (Adaloglou et al.
  2023: a student head and its moving-average teacher; an image's student
  probabilities against a neighbour's teacher probabilities, pointwise mutual
  information with beta 0.6, pairs weighted by the teacher's agreement), the head of
  lowest loss kept; ``--beta``, ``--lr``, ``--teacher-temperature``.

    python benchmarks/bench_ideas.py scan --encoders a.safetensors[,b.safetensors] \
        --variant avg --seed 0 [--neighbours 20] [--views 4] [--heads 10] [--components 64] \
        [--pool 50]

How much the features know, and how much of it is cluster-shaped: the test accuracy of
a vote of each test image's 20 nearest training images (labels only score), and the
purity of 30 SCAN clusters of even size (the share of images in their cluster's
majority class; an upper bound for merging them into classes), and that of K-Means
with 10 to 300 clusters on the unit-length features.

    python benchmarks/bench_ideas.py ceiling --encoders a.safetensors

End-to-end SCAN (the paper's clustering step): a saved encoder's CNN fine-tuned with the
SCAN loss on augmented anchors and neighbours (mined on its features), starting from the
package's frozen-feature head; test accuracy after every epoch (only printed: no epoch
is chosen by it).

    python benchmarks/bench_ideas.py e2e --encoders a.safetensors --epochs 6

Stability across seeds, a label-free score of a setting: the agreement (adjusted Rand
index and NMI) between the training clusters of every pair of whole runs saved with
``--save``.

    python benchmarks/bench_ideas.py stability \
        --labels a.safetensors.labels.npy,b.safetensors.labels.npy

Spectral clustering of the training images' 20-nearest-neighbour graph (symmetric,
normalised; K-Means on the 10 leading eigenvectors, rows scaled to unit length); each
test image takes the cluster most of its 20 nearest training images have.

    python benchmarks/bench_ideas.py spectral --encoders a.safetensors [--seed 0]

Consensus of heads: the SCAN step on each encoder, then K-Means on the cluster
probabilities of several heads side by side (every head of the first encoder; the
selected head of each; every head of each).

    python benchmarks/bench_ideas.py consensus --encoders a.safetensors,b.safetensors
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from torch import nn

import fashion_cluster.contrastive as contrastive
import fashion_cluster.representations as representations
from fashion_cluster import ContrastiveSCAN, KMeansClusterer, clustering_accuracy, load, scan
from fashion_cluster.contrastive import SimCLRNet
from fashion_cluster.datasets import load_dataset

PROJECTION_HEAD = contrastive.projection_head  # before --arch cc replaces it


class ClusterPair(nn.Module):
    """SimCLR's projection head and Contrastive Clustering's cluster head, side by side:
    64 projection outputs, then 10 cluster probabilities."""

    def __init__(self, feature_dim: int = 512, k: int = 10):
        super().__init__()
        self.instance = PROJECTION_HEAD(feature_dim)
        self.cluster = nn.Sequential(nn.Linear(feature_dim, feature_dim), nn.ReLU(),
                                     nn.Linear(feature_dim, k), nn.Softmax(dim=1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.instance(h), self.cluster(h)], 1)


def two_views(batch: torch.Tensor, generator: torch.Generator, view_settings: dict):
    """Two augmented views of each image of ``batch``, one batch after the other."""
    return torch.cat([contrastive.augment(batch, generator, **view_settings),
                      contrastive.augment(batch, generator, **view_settings)])


def cluster_step_loss(model, batch, generator, view_settings, temperature, world):
    """Contrastive Clustering's loss of two views of ``batch`` (one process)."""
    out = model(two_views(batch, generator, view_settings))
    z, y = out[:, :64], out[:, 64:]
    z1, z2, y1, y2 = z[: len(batch)], z[len(batch) :], y[: len(batch)], y[len(batch) :]
    entropy = sum(-(p * p.log()).sum() for p in (y1.mean(0), y2.mean(0)))
    return (contrastive.nt_xent(z1, z2, temperature) + contrastive.nt_xent(y1.T, y2.T, 1.0)
            - entropy)


class NearestNeighbourLoss:
    """NNCLR's loss of two views of a batch (one process), with its support queue."""

    def __init__(self, size: int = 8192):
        self.size, self.queue = size, None

    def __call__(self, model, batch, generator, view_settings, temperature, world):
        z = F.normalize(model(two_views(batch, generator, view_settings)), dim=1)
        z1, z2 = z[: len(batch)], z[len(batch) :]
        support = z1.detach() if self.queue is None else self.queue
        targets = torch.arange(len(batch), device=z.device)
        loss = 0.0
        for a, b in ((z1, z2), (z2, z1)):
            nearest = support[(a.detach() @ support.T).argmax(1)]
            loss = loss + F.cross_entropy(nearest @ b.T / temperature, targets) / 2
        older = () if self.queue is None else (self.queue,)
        self.queue = torch.cat([z1.detach(), *older])[: self.size]
        return loss


class DeepSimCLRNet(SimCLRNet):
    """Four 3x3 convolutions (32-64-64-128 channels, two of stride 2) before the dense
    layer: about 6x the base network's time an epoch on 28x28 images."""

    def __init__(self, image_shape=(1, 28, 28), feature_dim=512):
        super().__init__(image_shape, feature_dim)
        c, h, w = self.config["image_shape"]
        layers, widths = [], [(c, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2)]
        for cin, cout, stride in widths:
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                       nn.BatchNorm2d(cout), nn.ReLU()]
        size = 128 * ((h + 3) // 4) * ((w + 3) // 4)
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(size, feature_dim, bias=False),
                                 nn.BatchNorm1d(feature_dim), nn.ReLU())


class WideSimCLRNet(SimCLRNet):
    """The base network with twice the channels (64 and 128): about 3x its time an epoch."""

    def __init__(self, image_shape=(1, 28, 28), feature_dim=512):
        super().__init__(image_shape, feature_dim)
        c, h, w = self.config["image_shape"]
        self.net = nn.Sequential(
            nn.Conv2d(c, 64, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(128),
            nn.ReLU(), nn.Flatten(),
            nn.Linear(128 * ((h + 3) // 4) * ((w + 3) // 4), feature_dim, bias=False),
            nn.BatchNorm1d(feature_dim), nn.ReLU())


def decorrelated_loss(model, batch, generator, view_settings, temperature, world):
    """SimCLR's loss plus IDFD's feature decorrelation (one process): each of the
    projection's 64 dimensions, as a vector over both views' batch, is told apart from
    the others by a softmax over their cosine similarities (temperature 2)."""
    z = model(two_views(batch, generator, view_settings))
    columns = F.normalize(z.T, dim=1)
    decorrelation = F.cross_entropy(columns @ columns.T / 2.0,
                                    torch.arange(len(columns), device=z.device))
    return contrastive.nt_xent(z[: len(batch)], z[len(batch) :], temperature) + decorrelation


def barlow_head(feature_dim: int = 512) -> nn.Module:
    """Barlow Twins' projector, scaled to this CNN: two 512-wide layers."""
    return nn.Sequential(nn.Linear(feature_dim, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(),
                         nn.Linear(512, 512))


def barlow_loss(model, batch, generator, view_settings, temperature, world):
    """Barlow Twins' loss (one process): the two views' cross-correlation matrix of
    standardised projections pulled towards the identity (off-diagonal weight 1 / 512)."""
    z = model(two_views(batch, generator, view_settings))
    z1, z2 = z[: len(batch)], z[len(batch) :]
    c = ((z1 - z1.mean(0)) / z1.std(0)).T @ ((z2 - z2.mean(0)) / z2.std(0)) / len(batch)
    diagonal = torch.diagonal(c)
    return ((1 - diagonal) ** 2).sum() + ((c**2).sum() - (diagonal**2).sum()) / len(c)


def debiased_loss(model, batch, generator, view_settings, temperature, world, prior=0.1):
    """Debiased contrastive loss (Chuang et al., NeurIPS 2020; one process): the
    negatives' sum is corrected for the share ``prior`` (1 / k) of them that are
    expected to be of the anchor's class."""
    z = F.normalize(model(two_views(batch, generator, view_settings)), dim=1)
    n = len(batch)
    similarity = torch.exp(z @ z.T / temperature)
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    positive = similarity[torch.arange(2 * n), partner]
    negatives = similarity.sum(1) - similarity.diagonal() - positive
    count = 2 * n - 2
    corrected = ((negatives - prior * count * positive) / (1 - prior)).clamp_min(
        count * math.exp(-1 / temperature))
    return -torch.log(positive / (positive + corrected)).mean()


def multi_crop_loss(model, batch, generator, view_settings, temperature, world, small=4):
    """SwAV's multi-crop with SimCLR's loss (one process): two global views (area
    ``crop_min``..1) contrasted with each other, and ``small`` local crops (area
    0.15..``crop_min``, resized to the full size) each contrasted with both global views."""
    n = len(batch)
    local_settings = {**view_settings, "crop_min": 0.15, "crop_max": view_settings["crop_min"]}
    local = [contrastive.augment(batch, generator, **local_settings) for _ in range(small)]
    z = model(torch.cat([two_views(batch, generator, view_settings), *local]))
    g1, g2 = z[:n], z[n : 2 * n]
    loss = contrastive.nt_xent(g1, g2, temperature)
    for j in range(small):
        s = z[(2 + j) * n : (3 + j) * n]
        loss = loss + (contrastive.nt_xent(s, g1, temperature)
                       + contrastive.nt_xent(s, g2, temperature)) / 2
    return loss / (1 + small)


def rotated(augment, degrees: float):
    """``augment``, then a rotation of each view by up to ``degrees`` either way."""

    def views(x, generator, *args, **kwargs):
        out = augment(x, generator, *args, **kwargs)
        angle = (torch.rand(len(out), generator=generator) * 2 - 1) * degrees * torch.pi / 180
        theta = torch.zeros(len(out), 2, 3)
        theta[:, 0, 0], theta[:, 0, 1] = angle.cos(), -angle.sin()
        theta[:, 1, 0], theta[:, 1, 1] = angle.sin(), angle.cos()
        grid = F.affine_grid(theta, list(out.shape), align_corners=False)
        return F.grid_sample(out, grid, align_corners=False)
    return views


def erased(augment, p: float):
    """``augment``, then Random Erasing (Zhong et al., AAAI 2020) with probability ``p``:
    a rectangle of 2-20 % of the area (aspect 0.3-3.3) set to zero."""

    def views(x, generator, *args, **kwargs):
        out = augment(x, generator, *args, **kwargs)
        b, _, h, w = out.shape
        draw = torch.rand(b, 5, generator=generator)
        area = (0.02 + 0.18 * draw[:, 0]) * h * w
        aspect = torch.exp(math.log(0.3) + (math.log(3.3) - math.log(0.3)) * draw[:, 1])
        eh = (area * aspect).sqrt().clamp(max=h)
        ew = (area / aspect).sqrt().clamp(max=w)
        top, left = draw[:, 2] * (h - eh), draw[:, 3] * (w - ew)
        rows = torch.arange(h).view(1, h, 1)
        cols = torch.arange(w).view(1, 1, w)
        inside = ((rows >= top.view(b, 1, 1)) & (rows < (top + eh).view(b, 1, 1))
                  & (cols >= left.view(b, 1, 1)) & (cols < (left + ew).view(b, 1, 1)))
        inside &= (draw[:, 4] < p).view(b, 1, 1)
        return out.masked_fill(inside.unsqueeze(1), 0.0)
    return views


def blurred(augment, p: float):
    """``augment``, then, with probability ``p``, SimCLR's Gaussian blur (sigma 0.1-2.0,
    here in pixels of the 28x28 image; a 5x5 kernel)."""

    def views(x, generator, *args, **kwargs):
        out = augment(x, generator, *args, **kwargs)
        b, c = out.shape[:2]
        draw = torch.rand(b, 2, generator=generator)
        sigma = 0.1 + 1.9 * draw[:, 0]
        taps = torch.exp(-(torch.arange(-2.0, 3.0).view(1, 5) ** 2) / (2 * sigma.view(b, 1) ** 2))
        taps = taps / taps.sum(1, keepdim=True)
        kernel = (taps.view(b, 5, 1) * taps.view(b, 1, 5)).repeat_interleave(c, 0).unsqueeze(1)
        smooth = F.conv2d(out.reshape(1, b * c, *out.shape[2:]), kernel, padding=2,
                          groups=b * c).reshape(out.shape)
        return torch.where((draw[:, 1] < p).view(b, 1, 1, 1), smooth, out)
    return views


def solarized(augment, p: float):
    """``augment``, then, with probability ``p``, BYOL's solarisation: values of 0.5 and
    above become 1 - value."""

    def views(x, generator, *args, **kwargs):
        out = augment(x, generator, *args, **kwargs)
        chosen = (torch.rand(len(out), generator=generator) < p).view(-1, 1, 1, 1)
        return torch.where(chosen & (out >= 0.5), 1 - out, out)
    return views


def inverted(augment, p: float):
    """``augment``, then, with probability ``p``, the view's values inverted (1 - value)."""

    def views(x, generator, *args, **kwargs):
        out = augment(x, generator, *args, **kwargs)
        chosen = (torch.rand(len(out), generator=generator) < p).view(-1, 1, 1, 1)
        return torch.where(chosen, 1 - out, out)
    return views


def toned(augment, p: float, knots: int = 4):
    """``augment``, then, with probability ``p``, a random monotone tone curve: the
    values mapped through a piecewise-linear curve from 0 to 1 over ``knots`` equal
    steps, each step's rise drawn uniformly in 0.1..1.1 before the curve is scaled to
    end at 1 (a wider family than the gamma's powers)."""

    def views(x, generator, *args, **kwargs):
        out = augment(x, generator, *args, **kwargs)
        b = len(out)
        draw = torch.rand(b, knots + 1, generator=generator)
        rises = draw[:, :knots] + 0.1
        curve = torch.cat([torch.zeros(b, 1), rises.cumsum(1)], 1)
        curve = curve / curve[:, -1:]
        position = out.clamp(0, 1).reshape(b, -1) * knots
        low = position.floor().clamp(max=knots - 1).long()
        weight = position - low
        mapped = (curve.gather(1, low) * (1 - weight) + curve.gather(1, low + 1) * weight)
        chosen = (draw[:, knots] < p).view(-1, 1, 1, 1)
        return torch.where(chosen, mapped.reshape(out.shape), out)
    return views


def deformed(augment, pixels: float, coarse: int = 4):
    """``augment``, then an elastic deformation: every pixel moved by a smooth random
    field (drawn on a ``coarse`` x ``coarse`` grid, interpolated) of up to about
    ``pixels`` pixels."""

    def views(x, generator, *args, **kwargs):
        out = augment(x, generator, *args, **kwargs)
        b, _, h, w = out.shape
        field = torch.rand(b, 2, coarse, coarse, generator=generator) * 2 - 1
        field = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=True)
        field = field.permute(0, 2, 3, 1) * torch.tensor([2 * pixels / w, 2 * pixels / h])
        identity = torch.eye(2, 3).expand(b, 2, 3)
        grid = F.affine_grid(identity, list(out.shape), align_corners=False) + field
        return F.grid_sample(out, grid, align_corners=False)
    return views


def whole_run(args: argparse.Namespace) -> None:
    if args.arch == "deep":
        representations.SimCLRNet = DeepSimCLRNet
    if args.arch == "wide":
        representations.SimCLRNet = WideSimCLRNet
    if args.arch == "cc":
        contrastive.projection_head = lambda feature_dim=512: ClusterPair(feature_dim)
        contrastive._step_loss = cluster_step_loss
    if args.arch == "nnclr":
        contrastive._step_loss = NearestNeighbourLoss()
    if args.arch == "barlow":
        contrastive.projection_head = barlow_head
        contrastive._step_loss = barlow_loss
    if args.arch == "multicrop":
        contrastive._step_loss = multi_crop_loss
    if args.arch == "dcl":
        contrastive._step_loss = debiased_loss
    if args.arch == "fd":
        contrastive._step_loss = decorrelated_loss
    if args.augment != "{}":
        keywords = json.loads(args.augment)
        if {"crop_min", "gamma"} & set(keywords):
            raise SystemExit("crop_min and gamma are the estimator's: pass them in --params")
        contrastive.augment = functools.partial(contrastive.augment, **keywords)
    for wrap, value in ((rotated, args.rotate), (erased, args.erase), (blurred, args.blur),
                        (solarized, args.solarize), (inverted, args.invert),
                        (toned, args.tone), (deformed, args.elastic)):
        if value:
            contrastive.augment = wrap(contrastive.augment, value)
    representations.augment = contrastive.augment  # training and SCAN's views alike
    data = load_dataset("fashion-mnist")
    tic = time.perf_counter()
    model = ContrastiveSCAN(10, image_shape=(1, 28, 28), random_state=args.seed,
                            **json.loads(args.params)).fit(data.x_train)
    wall = time.perf_counter() - tic
    if args.save:
        model.encoder_.save(args.save)
        np.save(f"{args.save}.labels.npy", model.labels_)
    features = model.encoder_.transform(data.x_train)
    kmeans = KMeansClusterer(10, normalize=True, random_state=args.seed).fit(features)
    kmeans_test = kmeans.predict(model.encoder_.transform(data.x_test))
    print(f"seed {args.seed} {args.arch} {args.params} {args.augment} rotate {args.rotate} "
          f"erase {args.erase} blur {args.blur} solarize {args.solarize} "
          f"invert {args.invert} tone {args.tone} elastic {args.elastic}: "
          f"SCAN test "
          f"{clustering_accuracy(data.test_labels, model.predict(data.x_test)):.4f}, "
          f"K-Means on the features {clustering_accuracy(data.test_labels, kmeans_test):.4f}, "
          f"selected head's SCAN loss {selected_loss(model):.4f}, {wall:.0f} s")


def selected_loss(model: ContrastiveSCAN) -> float:
    """The final SCAN loss of the head a fitted model kept (it keeps the head of lowest
    loss among those trained for the cluster sizes it keeps)."""
    info = model.clusterer_.info_
    return float(info["scan_loss"][info["selected_head"]])


def self_label(head: dict, feats: torch.Tensor, aug: torch.Tensor, generator: torch.Generator,
               fraction: float = 0.5, epochs: int = 15) -> dict:
    """Retrain the head with cross entropy on the most confident ``fraction`` of each
    cluster (classes weighted to equal total weight), on random views."""
    confidence, label = scan.logits(feats, head).softmax(1).max(1)
    keep = []
    for c in range(len(head["bias"])):
        members = (label == c).nonzero().squeeze(1)
        order = confidence[members].argsort(descending=True)
        keep.append(members[order[: max(1, int(fraction * len(members)))]])
    chosen = torch.cat(keep)
    weight = torch.bincount(label[chosen], minlength=len(head["bias"])).float().clamp_min(1)
    layer = nn.Linear(feats.shape[1], len(head["bias"]))
    layer.weight.data[:], layer.bias.data[:] = head["weight"], head["bias"]
    optimizer = torch.optim.Adam(layer.parameters(), lr=1e-3, weight_decay=1e-4)
    for _ in range(epochs):
        order = chosen[torch.randperm(len(chosen), generator=generator)]
        for start in range(0, len(order), 512):
            i = order[start : start + 512]
            which = torch.randint(len(aug) + 1, (len(i),), generator=generator)
            x, viewed = feats[i].clone(), which < len(aug)
            x[viewed] = aug[which[viewed], i[viewed]].float()
            logits = layer((x - head["mean"]) / head["std"])
            loss = F.cross_entropy(logits, label[i], weight=weight.sum() / weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return dict(head, weight=layer.weight.detach(), bias=layer.bias.detach())


def scan_variant(args: argparse.Namespace) -> None:
    encoders = [load(path) for path in args.encoders.split(",")]
    data = load_dataset("fashion-mnist")
    generator = torch.Generator().manual_seed(args.seed)

    def unit(a) -> torch.Tensor:
        return F.normalize(torch.as_tensor(a).float(), dim=-1)
    feats = torch.cat([unit(e.transform(data.x_train)) for e in encoders], 1)
    test = torch.cat([unit(e.transform(data.x_test)) for e in encoders], 1)
    aug = torch.cat([unit(e.view_features(data.x_train, args.views, generator))
                     for e in encoders], 2)
    neighbours = mined_neighbours(args, feats, aug)

    def mined(_features, k, block=512, seed=0):
        assert k == neighbours.shape[1], f"the step asked for {k} neighbours"
        return neighbours
    scan.nearest_neighbours = mined
    if args.variant == "temi":
        head = temi_heads(feats, aug, neighbours, generator, heads=args.heads, beta=args.beta,
                          lr=args.lr, teacher_temperature=args.teacher_temperature)
    else:
        head = scan.train_heads(feats, aug.half(), 10, heads=args.heads, neighbours=args.neighbours,
                                epochs=30, batch_size=512, entropy_weight=5.0,
                                seed=args.seed, generator=generator, min_steps=1000)
    if args.variant == "self":
        head = self_label(head, feats, aug, generator)
    predicted = scan.assign(test, head)
    if args.variant == "knn":
        probabilities = scan.logits(feats, head).softmax(1)
        nearest = (F.normalize(test, dim=1) @ F.normalize(feats, dim=1).T).topk(20).indices
        predicted = probabilities[nearest].mean(1).argmax(1)
    labels = torch.from_numpy(data.train_labels.astype(np.int64))
    precision = (labels[neighbours] == labels[:, None]).float().mean()
    print(f"{args.encoders} {args.variant} seed {args.seed}, {args.neighbours} neighbours, "
          f"{args.views} views, {args.heads} heads{variant_settings(args)}: "
          f"neighbours of the same class {precision:.4f}, SCAN test "
          f"{clustering_accuracy(data.test_labels, predicted):.4f}")


def temi_heads(feats: torch.Tensor, aug: torch.Tensor, neighbours: torch.Tensor,
               generator: torch.Generator, k: int = 10, heads: int = 10, epochs: int = 30,
               batch: int = 512, beta: float = 0.6, lr: float = 1e-3,
               teacher_temperature: float = 0.1) -> dict:
    """Linear heads on the standardised features trained with TEMI's loss, as SCAN's
    (same views, neighbours, optimiser and schedule; Adam's rate ``lr``); the head of
    lowest loss in the last epoch, in `scan.assign`'s form. TEMI's settings: student
    temperature 0.1, teacher ``teacher_temperature`` (TEMI's code: 0.1), teacher momentum
    0.996, cluster marginals' momentum 0.9 (updated with the batch before its loss), each
    pair weighted by the teacher's agreement averaged over the heads. The teacher's
    weights are kept, as TEMI's. Not TEMI's: linear heads (its are MLPs), Adam at a
    constant rate (its AdamW warms up)."""
    mean, std = scan.standardisation(feats, aug)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
        student = nn.Linear(feats.shape[1], heads * k)
    teacher = nn.Linear(feats.shape[1], heads * k).requires_grad_(False)
    teacher.load_state_dict(student.state_dict())
    optimizer = torch.optim.Adam(student.parameters(), lr=lr, weight_decay=1e-4)
    marginal = torch.full((heads, k), 1 / k)

    def viewed(index: torch.Tensor) -> torch.Tensor:
        which = torch.randint(len(aug) + 1, (len(index),), generator=generator)
        x, augmented = feats[index].clone(), which < len(aug)
        x[augmented] = aug[which[augmented], index[augmented]].float()
        return (x - mean) / std

    def probabilities(layer: nn.Module, x: torch.Tensor, temperature: float) -> torch.Tensor:
        return F.softmax(layer(x).view(len(x), heads, k) / temperature, dim=2)

    def pmi_loss(p_student: torch.Tensor, p_teacher: torch.Tensor,
                 weight: torch.Tensor) -> torch.Tensor:
        pmi = torch.log(((p_student * p_teacher).clamp_min(1e-20) ** beta / marginal).sum(2))
        return -(weight * pmi).mean(0)  # (heads,)

    n, steps = len(feats), max(1, len(feats) // batch)
    for _ in range(max(epochs, math.ceil(1000 / steps))):
        order, losses = torch.randperm(n, generator=generator), torch.zeros(heads)
        for step in range(steps):
            anchor = order[step * batch : (step + 1) * batch]
            partner = neighbours[anchor, torch.randint(neighbours.shape[1], (len(anchor),),
                                                       generator=generator)]
            x_a, x_p = viewed(anchor), viewed(partner)
            s_a, s_p = probabilities(student, x_a, 0.1), probabilities(student, x_p, 0.1)
            with torch.no_grad():
                t_a = probabilities(teacher, x_a, teacher_temperature)
                t_p = probabilities(teacher, x_p, teacher_temperature)
                weight = (t_a * t_p).sum(2).mean(1, keepdim=True)
                marginal = 0.9 * marginal + 0.1 * torch.cat([t_a, t_p]).mean(0)
            loss = (pmi_loss(s_a, t_p, weight) + pmi_loss(s_p, t_a, weight)) / 2
            optimizer.zero_grad()
            loss.sum().backward()
            optimizer.step()
            with torch.no_grad():
                for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
                    t.mul_(0.996).add_(s.detach(), alpha=0.004)
            losses += loss.detach()
    best = int(losses.argmin())
    rows = slice(best * k, (best + 1) * k)
    sizes = scan.assign(feats, {"weight": teacher.weight[rows], "bias": teacher.bias[rows],
                                "mean": mean, "std": std}).bincount(minlength=k)
    print(f"TEMI losses {[round(float(v) / steps, 4) for v in losses]}, kept head {best}, "
          f"cluster sizes {sizes.tolist()}")
    return {"weight": teacher.weight[rows].clone(), "bias": teacher.bias[rows].clone(),
            "mean": mean, "std": std}


def consensus(args: argparse.Namespace) -> None:
    """The SCAN step on each encoder; then K-Means (10 clusters, 10 starts) on the
    cluster probabilities of several heads side by side: every head of the first encoder,
    the selected head of every encoder, and every head of every encoder."""
    from sklearn.cluster import KMeans

    data = load_dataset("fashion-mnist")
    trained, layers = scan._train, []

    def keep_every_head(*a, **kw):
        out = trained(*a, **kw)
        layers.append(tuple(t.clone() for t in out["layer"]))
        return out
    scan._train = keep_every_head
    every, chosen = [], []
    for path in args.encoders.split(","):
        encoder = load(path)
        generator = torch.Generator().manual_seed(args.seed)
        feats = F.normalize(torch.from_numpy(encoder.transform(data.x_train)), dim=1)
        test = F.normalize(torch.from_numpy(encoder.transform(data.x_test)), dim=1)
        aug = F.normalize(encoder.view_features(data.x_train, 4, generator).float(), dim=-1)
        head = scan.train_heads(feats, aug.half(), 10, heads=10, neighbours=20, epochs=30,
                                batch_size=512, entropy_weight=5.0, seed=args.seed,
                                generator=generator, min_steps=1000)
        weight, bias = layers[-1]
        every.append([scan.logits(f, {**head, "weight": weight, "bias": bias})
                      .view(len(f), -1, 10).softmax(2) for f in (feats, test)])
        chosen.append([p[:, head["selected"]] for p in every[-1]])
        accuracy = clustering_accuracy(data.test_labels, scan.assign(test, head))
        print(f"{path}: selected head test {accuracy:.4f}", flush=True)
    for name, parts in (("the heads of the first encoder", every[:1]),
                        ("the selected heads of every encoder", chosen),
                        ("every head of every encoder", every)):
        train, test = (torch.cat([p[i].reshape(len(p[i]), -1) for p in parts], 1).numpy()
                       for i in (0, 1))
        kmeans = KMeans(10, n_init=10, random_state=args.seed).fit(train)
        print(f"consensus of {name}: test "
              f"{clustering_accuracy(data.test_labels, kmeans.predict(test)):.4f}", flush=True)


def ceiling(args: argparse.Namespace) -> None:
    from sklearn.cluster import KMeans

    from fashion_cluster import SCANClusterer

    encoder, data = load(args.encoders), load_dataset("fashion-mnist")
    feats = F.normalize(torch.from_numpy(encoder.transform(data.x_train)), dim=1)
    test = F.normalize(torch.from_numpy(encoder.transform(data.x_test)), dim=1)
    labels = torch.from_numpy(data.train_labels.astype(np.int64))
    nearest = torch.cat([(test[i : i + 4096] @ feats.T).topk(20).indices
                         for i in range(0, len(test), 4096)])
    votes = F.one_hot(labels[nearest], 10).sum(1).argmax(1).numpy()
    over = SCANClusterer(encoder, 30, random_state=args.seed).fit(data.x_train).labels_
    print(f"{args.encoders}: 20-neighbour vote test {(votes == data.test_labels).mean():.4f}, "
          f"purity of 30 SCAN clusters {purity(data.train_labels, over):.4f}")
    for k in (10, 30, 100, 300):
        groups = KMeans(k, n_init=1, random_state=args.seed).fit_predict(feats.numpy())
        print(f"purity of {k} K-Means clusters {purity(data.train_labels, groups):.4f}")


def spectral(args: argparse.Namespace) -> None:
    """Spectral clustering of the training images' 20-nearest-neighbour graph, each test
    image in its 20 nearest training images' majority cluster."""
    import scipy.sparse as sparse
    from scipy.sparse.linalg import eigsh
    from sklearn.cluster import KMeans

    encoder, data = load(args.encoders), load_dataset("fashion-mnist")
    feats = F.normalize(torch.from_numpy(encoder.transform(data.x_train)), dim=1)
    test = F.normalize(torch.from_numpy(encoder.transform(data.x_test)), dim=1)
    nearest = scan.nearest_neighbours(feats, 20).numpy()
    n = len(feats)
    graph = sparse.csr_matrix((np.ones(nearest.size, np.float32),
                               (np.repeat(np.arange(n), 20), nearest.ravel())), shape=(n, n))
    graph = graph.maximum(graph.T)
    scale = sparse.diags(1 / np.sqrt(np.asarray(graph.sum(1)).ravel()))
    start = np.random.default_rng(args.seed).random(n)
    values, vectors = eigsh(scale @ graph @ scale, k=10, which="LA", tol=1e-4, v0=start)
    rows = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    train = KMeans(10, n_init=10, random_state=args.seed).fit_predict(rows)
    voters = torch.cat([(test[i : i + 4096] @ feats.T).topk(20).indices
                        for i in range(0, len(test), 4096)]).numpy()
    votes = np.array([np.bincount(v, minlength=10).argmax() for v in train[voters]])
    print(f"{args.encoders} spectral, eigenvalues {[round(float(v), 4) for v in values]}: train "
          f"{clustering_accuracy(data.train_labels, train):.4f}, "
          f"test {clustering_accuracy(data.test_labels, votes):.4f}")


def purity(labels: np.ndarray, clusters: np.ndarray) -> float:
    """The share of images in their cluster's majority class."""
    return sum(np.bincount(labels[clusters == c]).max() for c in np.unique(clusters)) / len(labels)


def end_to_end(args: argparse.Namespace) -> None:
    from fashion_cluster import SCANClusterer
    from fashion_cluster.contrastive import augment

    encoder, data = load(args.encoders), load_dataset("fashion-mnist")
    torch.manual_seed(args.seed)
    frozen = SCANClusterer(encoder, 10, random_state=args.seed).fit(data.x_train)
    accuracy = clustering_accuracy(data.test_labels, frozen.predict(data.x_test))
    print(f"frozen features: test {accuracy:.4f}")
    neighbours = scan.nearest_neighbours(torch.from_numpy(encoder.transform(data.x_train)), 20)
    net, head = encoder.model_, nn.Linear(encoder.feature_dim, 10)
    fitted = {k: torch.from_numpy(v) for k, v in frozen.head_.items()}
    with torch.no_grad():
        head.weight.copy_(fitted["weight"])
        head.bias.copy_(fitted["bias"])
    x = torch.from_numpy(encoder._prepare(data.x_train.reshape(len(data.x_train), -1)))
    generator = torch.Generator().manual_seed(args.seed)
    optimizer = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=args.lr,
                                 weight_decay=1e-4)

    def probabilities(rows: torch.Tensor) -> torch.Tensor:
        views = augment(net.images(x[rows]), generator, encoder.crop_min, gamma=encoder.gamma)
        return F.softmax(head((net.forward_images(views) - fitted["mean"]) / fitted["std"]), 1)
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(x), generator=generator)
        for step in range(len(x) // args.batch):
            anchor = order[step * args.batch : (step + 1) * args.batch]
            partner = neighbours[anchor, torch.randint(20, (len(anchor),), generator=generator)]
            p_anchor, p_partner = probabilities(anchor), probabilities(partner)
            p_mean = p_anchor.mean(0)
            loss = (-torch.log((p_anchor * p_partner).sum(1).clamp_min(1e-7)).mean()
                    + 5.0 * (p_mean * torch.log(p_mean.clamp_min(1e-8))).sum())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        net.eval()
        test = torch.from_numpy(encoder.transform(data.x_test))
        predicted = head((test - fitted["mean"]) / fitted["std"]).argmax(1).numpy()
        print(f"epoch {epoch + 1}: test {clustering_accuracy(data.test_labels, predicted):.4f}",
              flush=True)


def mined_neighbours(args: argparse.Namespace, feats: torch.Tensor,
                     aug: torch.Tensor) -> torch.Tensor:
    """The neighbour index (N, ``args.neighbours``) the SCAN step trains on, as the
    variant mines it."""
    exact = scan.nearest_neighbours
    if args.variant == "avg":
        return exact((feats + aug.sum(0)) / (len(aug) + 1), args.neighbours)
    if args.variant == "whiten":
        return exact(whitened(feats, args.components), args.neighbours)
    if args.variant == "shared":
        if args.pool <= args.neighbours:
            raise SystemExit(f"--pool ({args.pool}) must exceed --neighbours "
                             f"({args.neighbours}): it is re-ranked down to them")
        return by_shared_neighbours(exact(feats, args.pool), args.neighbours)
    return exact(feats, args.neighbours)


def variant_settings(args: argparse.Namespace) -> str:
    """The settings a SCAN-step variant adds to its output line."""
    return {"whiten": f", {args.components} principal axes",
            "shared": f", re-ranked from {args.pool}",
            "temi": f", beta {args.beta}, rate {args.lr}, teacher temperature "
                    f"{args.teacher_temperature}"}.get(args.variant, "")


def whitened(feats: torch.Tensor, components: int) -> torch.Tensor:
    """The rows projected on their first ``components`` principal axes, each scaled to
    the same variance (PCA whitening, as retrieval with self-supervised features uses;
    the axes from every fourth row)."""
    centred = feats - feats.mean(0)
    _, values, axes = torch.linalg.svd(centred[::4], full_matrices=False)
    return centred @ axes[:components].T / values[:components]


def by_shared_neighbours(pool: torch.Tensor, k: int, block: int = 2000) -> torch.Tensor:
    """Of each row's ``pool`` (N, P) nearest neighbours, the ``k`` that share the most of
    its P neighbours (ties kept in order of similarity): shared-nearest-neighbour
    re-ranking."""
    n, size = pool.shape
    chosen = torch.empty(n, k, dtype=torch.int64)
    for start in range(0, n, block):
        pooled = pool[start : start + block]  # (B, P) neighbour indices
        member = torch.zeros(len(pooled), n, dtype=torch.bool)
        member.scatter_(1, pooled, True)
        theirs = pool[pooled].reshape(len(pooled), -1)  # each neighbour's P neighbours
        shared = member.gather(1, theirs).reshape(len(pooled), size, size).sum(2)
        score = shared.float() - torch.arange(size) / size  # ties: the more similar first
        chosen[start : start + block] = pooled.gather(1, score.topk(k, dim=1).indices)
    return chosen


def stability(args: argparse.Namespace) -> None:
    """Agreement (ARI, NMI) between the saved training clusters of every pair of runs,
    and its mean: a label-free score of how much a setting's result depends on the seed."""
    paths = args.labels.split(",")
    if len(set(paths)) < 2 or len(set(paths)) < len(paths):
        raise SystemExit(f"--labels needs at least 2 different files, got {paths}")
    runs = {path: np.load(path) for path in paths}
    ari, nmi = [], []
    for (a, left), (b, right) in itertools.combinations(runs.items(), 2):
        ari.append(adjusted_rand_score(left, right))
        nmi.append(normalized_mutual_info_score(left, right))
        print(f"{a} / {b}: ARI {ari[-1]:.4f}, NMI {nmi[-1]:.4f}")
    print(f"mean of {len(ari)} pairs: ARI {np.mean(ari):.4f}, NMI {np.mean(nmi):.4f}")


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--params", default="{}")
    run.add_argument("--arch", default="base",
                     choices=["base", "deep", "wide", "cc", "nnclr", "fd", "barlow", "dcl",
                              "multicrop"])
    run.add_argument("--augment", default="{}", help="JSON keywords of contrastive.augment")
    run.add_argument("--rotate", type=float, default=0.0, help="degrees, either way")
    run.add_argument("--erase", type=float, default=0.0, help="probability of erasing")
    run.add_argument("--blur", type=float, default=0.0, help="probability of blurring")
    run.add_argument("--solarize", type=float, default=0.0, help="probability of solarising")
    run.add_argument("--invert", type=float, default=0.0, help="probability of inverting")
    run.add_argument("--tone", type=float, default=0.0, help="probability of a tone curve")
    run.add_argument("--elastic", type=float, default=0.0, help="pixels of elastic movement")
    run.add_argument("--save")
    variant = sub.add_parser("scan")
    variant.add_argument("--encoders", required=True)
    variant.add_argument("--variant", default="base",
                         choices=["base", "avg", "self", "knn", "whiten", "shared", "temi"])
    variant.add_argument("--beta", type=float, default=0.6, help="TEMI's (--variant temi)")
    variant.add_argument("--lr", type=float, default=1e-3, help="Adam's rate (--variant temi)")
    variant.add_argument("--teacher-temperature", type=float, default=0.1,
                         help="TEMI teacher's (--variant temi)")
    variant.add_argument("--components", type=positive, default=64,
                         help="principal axes kept by --variant whiten")
    variant.add_argument("--pool", type=positive, default=50,
                         help="neighbours re-ranked by --variant shared")
    variant.add_argument("--seed", type=int, default=0)
    variant.add_argument("--neighbours", type=int, default=20)
    variant.add_argument("--views", type=positive, default=4, help="augmented views an image")
    variant.add_argument("--heads", type=positive, default=10,
                         help="heads trained, the one of lowest SCAN loss kept")
    limit = sub.add_parser("ceiling")
    limit.add_argument("--encoders", required=True)
    limit.add_argument("--seed", type=int, default=0)
    stable = sub.add_parser("stability")
    stable.add_argument("--labels", required=True, help="comma-separated .labels.npy files")
    graph = sub.add_parser("spectral")
    graph.add_argument("--encoders", required=True)
    graph.add_argument("--seed", type=int, default=0)
    agree = sub.add_parser("consensus")
    agree.add_argument("--encoders", required=True)
    agree.add_argument("--seed", type=int, default=0)
    e2e = sub.add_parser("e2e")
    e2e.add_argument("--encoders", required=True)
    e2e.add_argument("--epochs", type=int, default=6)
    e2e.add_argument("--lr", type=float, default=1e-4)
    e2e.add_argument("--batch", type=int, default=256)
    e2e.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    {"run": whole_run, "scan": scan_variant, "ceiling": ceiling, "consensus": consensus,
     "e2e": end_to_end, "stability": stability, "spectral": spectral}[args.command](args)


if __name__ == "__main__":
    main()
