"""One change at a time to the best method, on Fashion-MNIST: the runs behind the table
"What helped and what did not" in docs/results.md. Research, not part of the package:
every idea reaches the package through its public extension points (see README.md).

Whole runs: ``ContrastiveSCAN`` with the given parameters (JSON, over its defaults, the
``best`` preset's), optionally with another CNN or loss, fitted on the 60,000 training
images; test accuracy after Hungarian matching and that of K-Means on the encoder's
features (a second view of the features' quality), and the SCAN loss of the head the
run kept. ``--save PATH`` keeps the encoder, and the clusters of the training images in
PATH.labels.npy.

    python -m research.ideas run --seed 0 --params '{"temperature": 0.2}'
    python -m research.ideas run --seed 0 --arch deep --save deep.safetensors

``--arch deep``: four 3x3 convolutions; ``--arch wide``: the base CNN with twice the
channels. ``--arch cc``: the base CNN trained with Contrastive Clustering's loss (Li et
al., AAAI 2021): SimCLR's plus a cluster head (10 softmax outputs) whose columns are
contrasted between the two views (temperature 1), minus the entropy of its mean
assignment; the cluster head is dropped and SCAN runs on the features, as for the other
encoders. ``--arch nnclr``: NNCLR's positives (Dwibedi et al., ICCV 2021): each view's
projection is replaced by its nearest neighbour in a queue of the last 8,192 first-view
projections, and contrasted with the other view of the same image (the other images'
second views as negatives). ``--arch fd``: SimCLR's loss plus IDFD's feature
decorrelation (Tao et al., ICLR 2021). ``--arch barlow``: Barlow Twins' loss (Zbontar et
al., ICML 2021) on a 512-wide projector. ``--arch dcl``: the debiased contrastive loss
(Chuang et al., NeurIPS 2020) with a class prior of 1 / 10. ``--arch multicrop``: SwAV's
multi-crop (Caron et al., NeurIPS 2020): four local crops (15-40 % of the area) beside
the two views, each contrasted with both.

The views: ``--augment JSON`` overrides keywords of ``contrastive.augment`` (``noise``,
``jitter``, ...); ``--rotate DEG`` adds a rotation of up to DEG degrees either way,
``--erase P`` Random Erasing, ``--blur P`` a Gaussian blur, ``--solarize P`` BYOL's
solarisation, ``--invert P`` an inversion and ``--tone P`` a random tone curve, each with
probability P; ``--elastic PIXELS`` an elastic deformation. (A random gamma is the
package's: ``--params '{"gamma": 2}'``.) They apply to the contrastive training and to
the SCAN step's views alike.

    python -m research.ideas run --seed 0 --augment '{"jitter": 0}'

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

    python -m research.ideas scan --encoders a.safetensors[,b.safetensors] \
        --variant avg --seed 0 [--neighbours 20] [--views 4] [--heads 10] [--components 64] \
        [--pool 50]

How much the features know, and how much of it is cluster-shaped: the test accuracy of
a vote of each test image's 20 nearest training images (labels only score), and the
purity of 30 SCAN clusters of even size (the share of images in their cluster's
majority class; an upper bound for merging them into classes), and that of K-Means
with 10 to 300 clusters on the unit-length features.

    python -m research.ideas ceiling --encoders a.safetensors

End-to-end SCAN (the paper's clustering step): a saved encoder's CNN fine-tuned with the
SCAN loss on augmented anchors and neighbours (mined on its features), starting from the
package's frozen-feature head; test accuracy after every epoch (only printed: no epoch
is chosen by it).

    python -m research.ideas e2e --encoders a.safetensors --epochs 6

Stability across seeds, a label-free score of a setting: the agreement (adjusted Rand
index and NMI) between the training clusters of every pair of whole runs saved with
``--save``.

    python -m research.ideas stability \
        --labels a.safetensors.labels.npy,b.safetensors.labels.npy

Spectral clustering of the training images' 20-nearest-neighbour graph (symmetric,
normalised; K-Means on the 10 leading eigenvectors, rows scaled to unit length); each
test image takes the cluster most of its 20 nearest training images have.

    python -m research.ideas spectral --encoders a.safetensors [--seed 0]

Consensus of heads: the SCAN step on each encoder, then K-Means on the cluster
probabilities of several heads side by side (every head of the first encoder; the
selected head of each; every head of each).

    python -m research.ideas consensus --encoders a.safetensors,b.safetensors

Every command takes the data set as an argument (`fashion_cluster.datasets.ImageSet`);
``main`` loads Fashion-MNIST, tests/test_research.py passes a few hundred images and
smaller settings (``SCAN_SETTINGS``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from torch import nn

from fashion_cluster import (
    ContrastiveEncoder,
    ContrastiveSCAN,
    KMeansClusterer,
    SCANClusterer,
    clustering_accuracy,
    load,
    scan,
)
from fashion_cluster.contrastive import augment
from fashion_cluster.data import scale_images
from fashion_cluster.datasets import ImageSet, load_dataset
from research.encoders import ARCHS, VIEW_EXTRAS, IdeaEncoder
from research.heads import VARIANTS, fixed_miner, mined_neighbours, self_label, temi_heads

#: The SCAN step's settings of the commands on saved encoders (the package's defaults);
#: tests make them small.
SCAN_SETTINGS = {"epochs": 30, "batch_size": 512, "min_steps": 1000}


@dataclass
class WholeRun:
    """A `ContrastiveSCAN` fitted in its two parts: ``encoder`` (an `IdeaEncoder`) and
    ``clusterer`` (a `SCANClusterer` on its features)."""

    encoder: IdeaEncoder
    clusterer: SCANClusterer

    @property
    def labels_(self) -> np.ndarray:
        return self.clusterer.labels_

    def predict(self, X) -> np.ndarray:
        return self.clusterer.predict(X)


def fit_whole_run(x: np.ndarray, k: int, seed: int, params: dict, arch: str = "base",
                  view_keywords: dict | None = None, view_extras: dict | None = None,
                  image_shape=(1, 28, 28)) -> WholeRun:
    """What ``ContrastiveSCAN(k, image_shape=..., random_state=seed, **params).fit(x)``
    does, with the encoder an `IdeaEncoder` of the idea: its parameters split between
    the encoder and the SCAN step as ContrastiveSCAN splits them (with the idea's
    defaults the labels are ContrastiveSCAN's, bit for bit: tests/test_research.py)."""
    p = ContrastiveSCAN(k, image_shape=image_shape, random_state=seed, **params).get_params()
    shared = set(ContrastiveEncoder().get_params()) & set(p)
    encoder = IdeaEncoder(**{name: p[name] for name in shared}, arch=arch,
                          view_keywords=view_keywords, view_extras=view_extras)
    encoder.fit(x)
    clusterer = SCANClusterer(encoder, k, heads=p["heads"], epochs=p["scan_epochs"],
                              batch_size=p["batch_size"], min_steps=p["scan_min_steps"],
                              neighbours=p["neighbours"], views=p["views"],
                              entropy_weight=p["entropy_weight"], random_state=seed,
                              processes=p["processes"], cluster_sizes=p["cluster_sizes"])
    return WholeRun(encoder, clusterer.fit(x, features=encoder.transform(x)))


def whole_run(args: argparse.Namespace, data: ImageSet) -> WholeRun:
    view_keywords = json.loads(args.augment)
    if {"crop_min", "gamma"} & set(view_keywords):
        raise SystemExit("crop_min and gamma are the estimator's: pass them in --params")
    extras = {name: getattr(args, name) for name in VIEW_EXTRAS if getattr(args, name)}
    tic = time.perf_counter()
    model = fit_whole_run(data.x_train, 10, args.seed, json.loads(args.params), args.arch,
                          view_keywords or None, extras or None)
    wall = time.perf_counter() - tic
    if args.save:
        model.encoder.save(args.save)
        np.save(f"{args.save}.labels.npy", model.labels_)
    features = model.encoder.transform(data.x_train)
    kmeans = KMeansClusterer(10, normalize=True, random_state=args.seed).fit(features)
    kmeans_test = kmeans.predict(model.encoder.transform(data.x_test))
    info = model.clusterer.info_
    print(f"seed {args.seed} {args.arch} {args.params} {args.augment} rotate {args.rotate} "
          f"erase {args.erase} blur {args.blur} solarize {args.solarize} "
          f"invert {args.invert} tone {args.tone} elastic {args.elastic}: "
          f"SCAN test "
          f"{clustering_accuracy(data.test_labels, model.predict(data.x_test)):.4f}, "
          f"K-Means on the features {clustering_accuracy(data.test_labels, kmeans_test):.4f}, "
          f"selected head's SCAN loss {info['scan_loss'][info['selected_head']]:.4f}, "
          f"{wall:.0f} s")
    return model


def scan_variant(args: argparse.Namespace, data: ImageSet) -> np.ndarray:
    """The SCAN step of ``args.variant`` on the saved encoders; prints and returns the
    test images' clusters."""
    encoders = [load(path) for path in args.encoders.split(",")]
    generator = torch.Generator().manual_seed(args.seed)

    def unit(a) -> torch.Tensor:
        return F.normalize(torch.as_tensor(a).float(), dim=-1)
    feats = torch.cat([unit(e.transform(data.x_train)) for e in encoders], 1)
    test = torch.cat([unit(e.transform(data.x_test)) for e in encoders], 1)
    aug = torch.cat([unit(e.view_features(data.x_train, args.views, generator))
                     for e in encoders], 2)
    try:
        neighbours = mined_neighbours(args.variant, feats, aug, args.neighbours,
                                      args.components, args.pool)
    except ValueError as exc:
        raise SystemExit(f"--{exc}") from None
    if args.variant == "temi":
        head = temi_heads(feats, aug, neighbours, generator, heads=args.heads, beta=args.beta,
                          lr=args.lr, teacher_temperature=args.teacher_temperature,
                          epochs=SCAN_SETTINGS["epochs"], batch=SCAN_SETTINGS["batch_size"],
                          min_steps=SCAN_SETTINGS["min_steps"])
    else:
        head = scan.train_heads(feats, aug.half(), 10, heads=args.heads,
                                neighbours=args.neighbours, entropy_weight=5.0,
                                seed=args.seed, generator=generator,
                                miner=fixed_miner(neighbours), **SCAN_SETTINGS)
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
    return predicted.numpy()


def variant_settings(args: argparse.Namespace) -> str:
    """The settings a SCAN-step variant adds to its output line."""
    return {"whiten": f", {args.components} principal axes",
            "shared": f", re-ranked from {args.pool}",
            "temi": f", beta {args.beta}, rate {args.lr}, teacher temperature "
                    f"{args.teacher_temperature}"}.get(args.variant, "")


def consensus(args: argparse.Namespace, data: ImageSet) -> None:
    """The SCAN step on each encoder; then K-Means (10 clusters, 10 starts) on the
    cluster probabilities of several heads side by side: every head of the first encoder,
    the selected head of every encoder, and every head of every encoder."""
    from sklearn.cluster import KMeans

    every, chosen = [], []
    for path in args.encoders.split(","):
        encoder = load(path)
        generator = torch.Generator().manual_seed(args.seed)
        feats = F.normalize(torch.from_numpy(encoder.transform(data.x_train)), dim=1)
        test = F.normalize(torch.from_numpy(encoder.transform(data.x_test)), dim=1)
        aug = F.normalize(encoder.view_features(data.x_train, 4, generator).float(), dim=-1)
        head = scan.train_heads(feats, aug.half(), 10, heads=10, neighbours=20,
                                entropy_weight=5.0, seed=args.seed, generator=generator,
                                all_heads=True, **SCAN_SETTINGS)
        every_head = {**head, "weight": head["heads_weight"], "bias": head["heads_bias"]}
        every.append([scan.logits(f, every_head).view(len(f), -1, 10).softmax(2)
                      for f in (feats, test)])
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


def ceiling(args: argparse.Namespace, data: ImageSet) -> None:
    from sklearn.cluster import KMeans

    encoder = load(args.encoders)
    feats = F.normalize(torch.from_numpy(encoder.transform(data.x_train)), dim=1)
    test = F.normalize(torch.from_numpy(encoder.transform(data.x_test)), dim=1)
    labels = torch.from_numpy(data.train_labels.astype(np.int64))
    nearest = torch.cat([(test[i : i + 4096] @ feats.T).topk(20).indices
                         for i in range(0, len(test), 4096)])
    votes = F.one_hot(labels[nearest], 10).sum(1).argmax(1).numpy()
    over = SCANClusterer(encoder, 30, random_state=args.seed,
                         **SCAN_SETTINGS).fit(data.x_train).labels_
    print(f"{args.encoders}: 20-neighbour vote test {(votes == data.test_labels).mean():.4f}, "
          f"purity of 30 SCAN clusters {purity(data.train_labels, over):.4f}")
    for k in (10, 30, 100, 300):
        if k <= len(feats):
            groups = KMeans(k, n_init=1, random_state=args.seed).fit_predict(feats.numpy())
            print(f"purity of {k} K-Means clusters {purity(data.train_labels, groups):.4f}")


def spectral(args: argparse.Namespace, data: ImageSet) -> np.ndarray:
    """Spectral clustering of the training images' 20-nearest-neighbour graph, each test
    image in its 20 nearest training images' majority cluster (returned)."""
    import scipy.sparse as sparse
    from scipy.sparse.linalg import eigsh
    from sklearn.cluster import KMeans

    encoder = load(args.encoders)
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
    return votes


def purity(labels: np.ndarray, clusters: np.ndarray) -> float:
    """The share of images in their cluster's majority class."""
    return sum(np.bincount(labels[clusters == c]).max() for c in np.unique(clusters)) / len(labels)


def prepared(encoder: ContrastiveEncoder, x: np.ndarray) -> torch.Tensor:
    """Images as the encoder's network takes them: flattened, scaled with the range it
    was fitted on (its layout must need no padding)."""
    rows = scale_images(x.reshape(len(x), -1), encoder.data_min_, encoder.data_max_)
    if rows.shape[1] != int(np.prod(encoder.image_shape_)):
        raise SystemExit(f"e2e takes images of {encoder.image_shape_}, got {x.shape[1:]}")
    return torch.from_numpy(rows)


def end_to_end(args: argparse.Namespace, data: ImageSet) -> list[float]:
    """The CNN fine-tuned with the SCAN loss from the frozen-feature head; the test
    accuracy after every epoch (printed and returned)."""
    encoder = load(args.encoders)
    torch.manual_seed(args.seed)
    frozen = SCANClusterer(encoder, 10, random_state=args.seed,
                           **SCAN_SETTINGS).fit(data.x_train)
    accuracy = clustering_accuracy(data.test_labels, frozen.predict(data.x_test))
    print(f"frozen features: test {accuracy:.4f}")
    neighbours = scan.nearest_neighbours(torch.from_numpy(encoder.transform(data.x_train)), 20)
    net, head = encoder.model_, nn.Linear(encoder.feature_dim, 10)
    fitted = {k: torch.from_numpy(v) for k, v in frozen.head_.items()}
    with torch.no_grad():
        head.weight.copy_(fitted["weight"])
        head.bias.copy_(fitted["bias"])
    x = prepared(encoder, data.x_train)
    generator = torch.Generator().manual_seed(args.seed)
    optimizer = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=args.lr,
                                 weight_decay=1e-4)

    def probabilities(rows: torch.Tensor) -> torch.Tensor:
        views = augment(net.images(x[rows]), generator, encoder.crop_min, gamma=encoder.gamma)
        return F.softmax(head((net.forward_images(views) - fitted["mean"]) / fitted["std"]), 1)
    accuracies = []
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
        accuracies.append(clustering_accuracy(data.test_labels, predicted))
        print(f"epoch {epoch + 1}: test {accuracies[-1]:.4f}", flush=True)
    return accuracies


def stability(args: argparse.Namespace, data: ImageSet | None = None) -> float:
    """Agreement (ARI, NMI) between the saved training clusters of every pair of runs,
    and its mean: a label-free score of how much a setting's result depends on the seed.
    Returns the mean ARI."""
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
    return float(np.mean(ari))


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text}")
    return value


def parser() -> argparse.ArgumentParser:
    """The command line: one sub-command a kind of experiment (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m research.ideas",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--params", default="{}")
    run.add_argument("--arch", default="base", choices=list(ARCHS))
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
    variant.add_argument("--variant", default="base", choices=list(VARIANTS))
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
    for name in ("ceiling", "spectral", "consensus"):
        command = sub.add_parser(name)
        command.add_argument("--encoders", required=True)
        command.add_argument("--seed", type=int, default=0)
    stable = sub.add_parser("stability")
    stable.add_argument("--labels", required=True, help="comma-separated .labels.npy files")
    e2e = sub.add_parser("e2e")
    e2e.add_argument("--encoders", required=True)
    e2e.add_argument("--epochs", type=int, default=6)
    e2e.add_argument("--lr", type=float, default=1e-4)
    e2e.add_argument("--batch", type=int, default=256)
    e2e.add_argument("--seed", type=int, default=0)
    return parser


COMMANDS = {"run": whole_run, "scan": scan_variant, "ceiling": ceiling, "consensus": consensus,
            "e2e": end_to_end, "stability": stability, "spectral": spectral}


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    data = None if args.command == "stability" else load_dataset("fashion-mnist")
    COMMANDS[args.command](args, data)


if __name__ == "__main__":
    main()
