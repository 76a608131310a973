"""One change at a time to the best method, on Fashion-MNIST: the runs behind the table
"What helped and what did not" in docs/results.md.

Whole runs: ``ContrastiveSCAN`` with the given parameters (JSON, over the ``best``
preset's defaults), optionally with the deeper CNN, fitted on the 60,000 training
images; test accuracy after Hungarian matching and that of K-Means on the encoder's
features (a second view of the features' quality). ``--save`` keeps the encoder.

    python benchmarks/bench_ideas.py run --seed 0 --params '{"temperature": 0.2}'
    python benchmarks/bench_ideas.py run --seed 0 --arch deep --save deep.safetensors

``--arch cc``: the base CNN trained with Contrastive Clustering's loss (Li et al., AAAI
2021): SimCLR's plus a cluster head (10 softmax outputs) whose columns are contrasted
between the two views (temperature 1), minus the entropy of its mean assignment; the
cluster head is dropped and SCAN runs on the features, as for the other encoders.
``--arch nnclr``: NNCLR's positives (Dwibedi et al., ICCV 2021): each view's projection
is replaced by its nearest neighbour in a queue of the last 8,192 first-view projections,
and contrasted with the other view of the same image (the other images' second views as
negatives).

SCAN-step variants, on saved encoders (several: their unit-length features side by
side): ``base`` (as the package), ``avg`` (neighbours mined on features averaged over the
augmented views), ``self`` (then class-balanced self-labelling: the most confident half
of each cluster, cross entropy on views, frozen features), ``knn`` (each image's cluster
probabilities averaged with its 20 nearest training images').

    python benchmarks/bench_ideas.py scan --encoders a.safetensors[,b.safetensors] \
        --variant avg --seed 0 [--neighbours 20]

How much the features know, and how much of it is cluster-shaped: the test accuracy of
a vote of each test image's 20 nearest training images (labels only score), and the
purity of 30 SCAN clusters of even size (the share of images in their cluster's
majority class; an upper bound for merging them into classes).

    python benchmarks/bench_ideas.py ceiling --encoders a.safetensors

End-to-end SCAN (the paper's clustering step): a saved encoder's CNN fine-tuned with the
SCAN loss on augmented anchors and neighbours (mined on its features), starting from the
package's frozen-feature head; test accuracy after every epoch (only printed: no epoch
is chosen by it).

    python benchmarks/bench_ideas.py e2e --encoders a.safetensors --epochs 6
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
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


def two_views(batch: torch.Tensor, generator: torch.Generator, crop_min: float):
    """Two augmented views of each image of ``batch``, one batch after the other."""
    return torch.cat([contrastive.augment(batch, generator, crop_min),
                      contrastive.augment(batch, generator, crop_min)])


def cluster_step_loss(model, batch, generator, crop_min, temperature, world):
    """Contrastive Clustering's loss of two views of ``batch`` (one process)."""
    out = model(two_views(batch, generator, crop_min))
    z, y = out[:, :64], out[:, 64:]
    z1, z2, y1, y2 = z[: len(batch)], z[len(batch) :], y[: len(batch)], y[len(batch) :]
    entropy = sum(-(p * p.log()).sum() for p in (y1.mean(0), y2.mean(0)))
    return (contrastive.nt_xent(z1, z2, temperature) + contrastive.nt_xent(y1.T, y2.T, 1.0)
            - entropy)


class NearestNeighbourLoss:
    """NNCLR's loss of two views of a batch (one process), with its support queue."""

    def __init__(self, size: int = 8192):
        self.size, self.queue = size, None

    def __call__(self, model, batch, generator, crop_min, temperature, world):
        z = F.normalize(model(two_views(batch, generator, crop_min)), dim=1)
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


def whole_run(args: argparse.Namespace) -> None:
    if args.arch == "deep":
        representations.SimCLRNet = DeepSimCLRNet
    if args.arch == "cc":
        contrastive.projection_head = lambda feature_dim=512: ClusterPair(feature_dim)
        contrastive._step_loss = cluster_step_loss
    if args.arch == "nnclr":
        contrastive._step_loss = NearestNeighbourLoss()
    data = load_dataset("fashion-mnist")
    tic = time.perf_counter()
    model = ContrastiveSCAN(10, image_shape=(1, 28, 28), random_state=args.seed,
                            **json.loads(args.params)).fit(data.x_train)
    wall = time.perf_counter() - tic
    if args.save:
        model.encoder_.save(args.save)
    features = model.encoder_.transform(data.x_train)
    kmeans = KMeansClusterer(10, normalize=True, random_state=args.seed).fit(features)
    kmeans_test = kmeans.predict(model.encoder_.transform(data.x_test))
    print(f"seed {args.seed} {args.arch} {args.params}: SCAN test "
          f"{clustering_accuracy(data.test_labels, model.predict(data.x_test)):.4f}, "
          f"K-Means on the features {clustering_accuracy(data.test_labels, kmeans_test):.4f}, "
          f"{wall:.0f} s")


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
    aug = torch.cat([unit(e.view_features(data.x_train, 4, generator)) for e in encoders], 2)
    mining = (feats + aug.sum(0)) / (len(aug) + 1) if args.variant == "avg" else feats
    neighbours = scan.nearest_neighbours(mining, args.neighbours)
    exact = scan.nearest_neighbours
    scan.nearest_neighbours = lambda f, k, block=512, seed=0: exact(mining, k, block)
    head = scan.train_heads(feats, aug.half(), 10, heads=10, neighbours=args.neighbours,
                            epochs=30, batch_size=512, entropy_weight=5.0, seed=args.seed,
                            generator=generator, min_steps=1000)
    if args.variant == "self":
        head = self_label(head, feats, aug, generator)
    predicted = scan.assign(test, head)
    if args.variant == "knn":
        probabilities = scan.logits(feats, head).softmax(1)
        nearest = (F.normalize(test, dim=1) @ F.normalize(feats, dim=1).T).topk(20).indices
        predicted = probabilities[nearest].mean(1).argmax(1)
    labels = torch.from_numpy(data.train_labels.astype(np.int64))
    precision = (labels[neighbours] == labels[:, None]).float().mean()
    print(f"{args.encoders} {args.variant} seed {args.seed}, {args.neighbours} neighbours: "
          f"neighbours of the same class {precision:.4f}, SCAN test "
          f"{clustering_accuracy(data.test_labels, predicted):.4f}")


def ceiling(args: argparse.Namespace) -> None:
    from fashion_cluster import SCANClusterer

    encoder, data = load(args.encoders), load_dataset("fashion-mnist")
    feats = F.normalize(torch.from_numpy(encoder.transform(data.x_train)), dim=1)
    test = F.normalize(torch.from_numpy(encoder.transform(data.x_test)), dim=1)
    labels = torch.from_numpy(data.train_labels.astype(np.int64))
    nearest = torch.cat([(test[i : i + 4096] @ feats.T).topk(20).indices
                         for i in range(0, len(test), 4096)])
    votes = F.one_hot(labels[nearest], 10).sum(1).argmax(1).numpy()
    over = SCANClusterer(encoder, 30, random_state=args.seed).fit(data.x_train).labels_
    majority = sum(np.bincount(data.train_labels[over == c]).max() for c in np.unique(over))
    print(f"{args.encoders}: 20-neighbour vote test {(votes == data.test_labels).mean():.4f}, "
          f"purity of 30 SCAN clusters {majority / len(over):.4f}")


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
        views = augment(net.images(x[rows]), generator, 0.4)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--params", default="{}")
    run.add_argument("--arch", choices=["base", "deep", "cc", "nnclr"], default="base")
    run.add_argument("--save")
    variant = sub.add_parser("scan")
    variant.add_argument("--encoders", required=True)
    variant.add_argument("--variant", choices=["base", "avg", "self", "knn"], default="base")
    variant.add_argument("--seed", type=int, default=0)
    variant.add_argument("--neighbours", type=int, default=20)
    limit = sub.add_parser("ceiling")
    limit.add_argument("--encoders", required=True)
    limit.add_argument("--seed", type=int, default=0)
    e2e = sub.add_parser("e2e")
    e2e.add_argument("--encoders", required=True)
    e2e.add_argument("--epochs", type=int, default=6)
    e2e.add_argument("--lr", type=float, default=1e-4)
    e2e.add_argument("--batch", type=int, default=256)
    e2e.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    {"run": whole_run, "scan": scan_variant, "ceiling": ceiling,
     "e2e": end_to_end}[args.command](args)


if __name__ == "__main__":
    main()
