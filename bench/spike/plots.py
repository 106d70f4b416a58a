"""The run's PNG plots (matplotlib, Agg): one figure per question, both targets side by side."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.spike.analysis import ENDPOINTS, OUTCOMES

COLOURS = {"200": "tab:green", "202": "tab:blue", "409": "tab:purple", "429": "tab:orange",
           "5xx": "tab:red", "other": "tab:gray"}  # fmt: skip


def _spike_band(ax, result: dict) -> None:
    ax.axvspan(0, result["spike"]["seconds"], color="0.92", zorder=0)
    ax.axvline(0, color="0.5", lw=0.8, ls="--")


def _figure(results: dict[str, dict], title: str):
    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 3.2), squeeze=False,
                             sharey=True)  # fmt: skip
    fig.suptitle(title, fontsize=10)
    return fig, axes[0]


def plot_all(results: dict[str, dict], out: Path, *, dpi: int = 80) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []

    fig, axes = _figure(results, "Answers per second by outcome (T0 = spike start; grey = spike)")
    for ax, (name, r) in zip(axes, results.items(), strict=True):
        s = r["series"]
        _spike_band(ax, r)
        labels = [o if o != "other" else "other 4xx, 499" for o in OUTCOMES]
        ax.stackplot(s["second"], *[s["throughput"][o] for o in OUTCOMES], labels=labels,
                     colors=[COLOURS[o] for o in OUTCOMES])  # fmt: skip
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("s from T0")
    axes[0].set_ylabel("answers/s")
    axes[-1].legend(fontsize=7, loc="upper right")
    written.append(_save(fig, out / "throughput.png", dpi))

    fig, axes = plt.subplots(len(ENDPOINTS), len(results), figsize=(5.2 * len(results), 6.4),
                             squeeze=False, sharex=True)  # fmt: skip
    fig.suptitle("Latency at the edge per endpoint, p50 / p95 / p99 (ms, log scale)", fontsize=10)
    for col, (name, r) in enumerate(results.items()):
        s = r["series"]
        for row, endpoint in enumerate(ENDPOINTS):
            ax = axes[row][col]
            _spike_band(ax, r)
            for p, style in ((50, ":"), (95, "--"), (99, "-")):
                values = s["latency_ms"][endpoint][p]
                pts = [(t, v) for t, v in zip(s["second"], values, strict=True) if v is not None]
                if pts:
                    ax.plot(*zip(*pts, strict=True), style, lw=1, label=f"p{p}")
            ax.axhline(200, color="tab:red", lw=0.6)
            ax.set_yscale("log")
            ax.set_title(f"{name}: {endpoint}", fontsize=8)
    axes[0][-1].legend(fontsize=7)
    written.append(_save(fig, out / "latency.png", dpi))

    fig, axes = _figure(results, "Requests per second that reached the order app")
    for ax, (name, r) in zip(axes, results.items(), strict=True):
        s = r["series"]
        _spike_band(ax, r)
        ax.plot(s["second"], s["order_app_per_s"], lw=1, label="reached the app")
        limit = r["order_app"]["limit"]
        if limit:
            ax.axhline(limit["rate_per_s"], color="tab:red", lw=0.8, label="edge budget (r/s)")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("s from T0")
        ax.legend(fontsize=7)
    written.append(_save(fig, out / "order_app.png", dpi))

    fig, axes = _figure(results, "Backlog: queue depth, outbox, orders accepted not settled")
    for ax, (name, r) in zip(axes, results.items(), strict=True):
        s = r["series"]
        _spike_band(ax, r)
        for key in ("queue_depth", "outbox_backlog", "unsettled"):
            pts = [(t, v) for t, v in zip(s["sample_t"], s[key], strict=True) if v is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), lw=1, label=key)
        drain = r["drain_s_after_spike"]
        ax.set_title(f"{name} (drained {drain} s after the spike)", fontsize=9)
        ax.set_xlabel("s from T0")
        ax.legend(fontsize=7)
    written.append(_save(fig, out / "backlog.png", dpi))

    fig, axes = _figure(results, "Units left of each hot flash-sale sku")
    for ax, (name, r) in zip(axes, results.items(), strict=True):
        s = r["series"]
        _spike_band(ax, r)
        skus = sorted({k for a in s["available"] if a for k in a})
        for sku in skus:
            pts = [(t, a.get(sku)) for t, a in zip(s["sample_t"], s["available"], strict=True)
                   if a and a.get(sku) is not None]  # fmt: skip
            if pts:
                ax.plot(*zip(*pts, strict=True), lw=1, label=sku)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("s from T0")
        ax.legend(fontsize=6)
    written.append(_save(fig, out / "sellout.png", dpi))
    return written


def _save(fig, path: Path, dpi: int) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
