"""``report.html`` and ``summary.md`` of a run, built from ``metrics.json`` and ``figures/``.

The HTML page is one self-contained file: figures are embedded as PNG data URIs, the
style sheet is inline, there is no script and nothing is fetched, so it reads offline
and prints. Every string that comes from input (dataset and class names, paths, method
titles, config values) goes through Jinja2's autoescaping.

Sections follow the study: data, elbow, K-Means on raw pixels, the autoencoders, the
methods on their codes, then the seed spread, timings and a comparison of all methods
with published results. Methods are laid out from the ``methods`` keys of
``metrics.json``, so a new method appears without touching the template.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from .artifacts import atomic_path
from .layout import RunFolder
from .methods import METHODS, REPRESENTATIONS
from .schema import read_metrics

__all__ = ["PUBLISHED", "build_context", "render_html", "render_markdown", "write_report"]

# Published fully unsupervised results on Fashion-MNIST (accuracy after Hungarian
# matching), for the comparison table. Not ours: shown as published.
PUBLISHED = [
    {"method": "DEC (Xie et al. 2016)", "accuracy": 0.518},
    {"method": "IDEC (Guo et al. 2017)", "accuracy": 0.529},
    {"method": "VaDE (Jiang et al. 2017)", "accuracy": 0.578},
    {"method": "DynAE (Mrabah et al. 2020)", "accuracy": 0.591},
    {"method": "ClusterGAN (Mukherjee et al. 2019)", "accuracy": 0.630},
    {"method": "N2D (McConville et al. 2019)", "accuracy": 0.672},
]


def _data_uri(path: Path) -> str | None:
    if not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _spread(seeds: dict, split: str, name: str = "accuracy", pct: bool = True) -> str:
    s = seeds.get(split, {}).get(name)
    if not s:
        return "–"
    if pct:
        return f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f}%"
    return f"{s['mean']:.3f} ± {s['std']:.3f}"


def build_context(out: str | Path) -> dict[str, Any]:
    """Everything the templates need, as plain values (strings are escaped later)."""
    out = Path(out)
    metrics = read_metrics(RunFolder(out).metrics)
    figs = RunFolder(out).figures

    def fig(name: str) -> str | None:
        return _data_uri(figs / f"{name}.png")

    methods = []
    for name, m in metrics.get("methods", {}).items():
        seeds = m.get("seeds", {})
        methods.append({
            "name": name, "title": m["title"], "representation": m["representation"],
            "k": m["k"], "info": m.get("info", {}), "fit_seconds": m["fit_seconds"],
            "predict_seconds": m.get("predict_seconds"),
            "scores": [{"split": split, "accuracy": _pct(m[split]["accuracy"]),
                        "unmatched": _pct(m[split]["unmatched_accuracy"]),
                        "nmi": _num(m[split]["nmi"]), "ari": _num(m[split]["ari"])}
                       for split in ("train", "test") if split in m],
            "seeds": {"seeds": seeds.get("seeds", []),
                      "train": _spread(seeds, "train"), "test": _spread(seeds, "test"),
                      "test_min": _pct(seeds.get("test", {}).get("accuracy", {}).get("min")),
                      "test_max": _pct(seeds.get("test", {}).get("accuracy", {}).get("max")),
                      "test_nmi": _spread(seeds, "test", "nmi", pct=False),
                      "test_ari": _spread(seeds, "test", "ari", pct=False),
                      "test_silhouette": _spread(seeds, "test", "silhouette", pct=False)},
            "label_free": [{"split": split, "silhouette": _num(lf.get("silhouette")),
                            "within_sse": _num(lf.get("within_sse")),
                            "sizes": ", ".join(str(s) for s in lf.get("cluster_sizes", []))}
                           for split, lf in m.get("label_free", {}).items()],
            "log_likelihood": m.get("info", {}).get("mean_log_likelihood"),
            "train_acc": m.get("train", {}).get("accuracy"),
            "test_acc": m.get("test", {}).get("accuracy"),
            "test_nmi": m.get("test", {}).get("nmi"), "test_ari": m.get("test", {}).get("ari"),
            "published": m.get("published"), "warnings": m.get("warnings") or [],
            "figures": {key: fig(f"{name}_{key}") for key in
                        ("centers", "confusion_train", "confusion_test", "gallery", "map")},
        })

    autoencoders = []
    networks = {**metrics.get("autoencoders", {}), **metrics.get("representations", {})}
    for kind, ae in networks.items():
        rep = REPRESENTATIONS[kind]
        name = rep.artifact
        autoencoders.append({
            "kind": kind,
            "title": rep.Title,
            "loss_function": ae.get("loss_function", "mse"),
            "parameters": ae.get("parameters"), "epochs": ae.get("epochs"),
            "batch_size": ae.get("batch_size"), "learning_rate": ae.get("learning_rate"),
            "final_loss": _num(ae["loss"][-1], 5) if ae.get("loss") else "–",
            "final_val_loss": (_num(ae["val_loss"][-1], 5)
                               if ae.get("val_loss") and ae["val_loss"][-1] is not None else "–"),
            "train_seconds": ae.get("train_seconds"), "summary": "\n".join(ae.get("summary", [])),
            "loss_figure": fig(f"{name}_loss"),
            "reconstructions": fig(f"{name}_reconstructions"),
        })

    elbow = metrics.get("elbow")
    timing = metrics.get("timing", {})
    scored = [m for m in methods if m["test_acc"] is not None]
    study = [(m.published["test"], m.title) for m in METHODS.values() if m.published]
    return {
        "metrics": metrics,
        "title": f"fashion-cluster: {metrics['dataset']['name']}, preset {metrics['preset']}",
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "dataset": metrics["dataset"], "k": metrics.get("k"), "k_source": metrics.get("k_source"),
        "elbow": elbow, "elbow_figure": fig("elbow"),
        "k_choice": metrics.get("k_choice"), "k_choice_figure": fig("k_choice"),
        "samples_figure": fig("samples"),
        "seed_figure": fig("seed_spread"),
        "raw_methods": [m for m in methods if m["representation"] == "raw"],
        "code_methods": [m for m in methods if m["representation"] != "raw"],
        "methods": methods, "autoencoders": autoencoders,
        "stages": [{"name": k, "seconds": v["seconds"], "reused": v["reused"]}
                   for k, v in timing.get("stages", {}).items()],
        "total_seconds": timing.get("total_seconds"),
        "reused_stages": sum(v["reused"] for v in timing.get("stages", {}).values()),
        "best": max(scored, key=lambda m: m["test_acc"]) if scored else None,
        "study_best": ({"accuracy": max(study)[0], "title": max(study)[1]} if study else None),
        "published": PUBLISHED, "pct": _pct, "num": _num,
    }


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("fashion_cluster", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["pct"] = _pct
    env.filters["num"] = _num
    return env


def render_html(context: dict[str, Any]) -> str:
    return _environment().get_template("report.html.j2").render(**context)


def render_markdown(context: dict[str, Any]) -> str:
    """The comparison table (and headline facts) as Markdown, for terminals and repos."""
    d = context["dataset"]
    lines = [f"# {context['title']}", "",
             f"{d['n_train']:,} training and {d['n_test']:,} test images, k = {context['k']} "
             f"({context['k_source']}).", ""]
    if context["elbow"]:
        lines += [f"Elbow (k = {context['elbow']['k'][0]}..{context['elbow']['k'][-1]}, "
                  f"{context['elbow']['n_init']} initialisations): knee at k = "
                  f"{context['elbow']['best_k']}.", ""]
    if context["k_choice"]:
        c = context["k_choice"]
        lines += [f"k chosen without labels: highest silhouette of K-Means on the "
                  f"{c['representation']} features at k = {c['best_k']}.", ""]
    lines += ["| method | train acc. | test acc. | test NMI | test ARI | test acc. over seeds "
              "| fit (s) | study (published) |",
              "|---|---|---|---|---|---|---|---|"]
    for m in context["methods"]:
        pub = m["published"] or {}
        lines.append(f"| {m['title']} | {_pct(m['train_acc'])} | {_pct(m['test_acc'])} | "
                     f"{_num(m['test_nmi'])} | {_num(m['test_ari'])} | {m['seeds']['test']} | "
                     f"{m['fit_seconds']:.1f} | {_pct(pub.get('test'))} |")
    lines += ["", "Published deep-clustering results on Fashion-MNIST (test accuracy, not ours): "
              + ", ".join(f"{p['method']} {_pct(p['accuracy'])}" for p in context["published"])
              + ".", ""]
    if context["total_seconds"] is not None:
        lines.append(f"Wall time of the run: {context['total_seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


def write_report(out: str | Path) -> Path:
    """Write ``report.html`` and ``summary.md`` into ``out``; return the HTML path."""
    out = Path(out)
    context = build_context(out)
    path = RunFolder(out).report
    with atomic_path(path) as tmp:
        tmp.write_text(render_html(context), encoding="utf-8")
    with atomic_path(RunFolder(out).summary) as tmp:
        tmp.write_text(render_markdown(context), encoding="utf-8")
    return path
