"""Browser-test support: Debian's Chromium driven by Playwright, offline, through the edge.

A page is proven in a real browser (DEVELOPERS.md): Playwright for Python drives
``/usr/bin/chromium`` (``executable_path``; a downloaded browser build does not work on these
machines). Every context made here refuses requests that would leave 127.0.0.1, and records
them, so a page that needs a CDN fails its test instead of passing on a connected laptop.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "var" / "screenshots"))
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def chromium_path() -> str:
    """Debian's Chromium (``BROWSER_PATH`` overrides); a clear error when it is missing."""
    path = os.environ.get("BROWSER_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        raise RuntimeError(
            "Chromium not found: run `bin/bootstrap --test` (apt-get install -y chromium)"
        )
    return path


@contextmanager
def launched_browser() -> Iterator[object]:
    """A headless Chromium for the caller's block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            # root in CI: Chromium's sandbox needs an unprivileged user namespace.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            browser.close()


class OfflineContext:
    """A browser context that aborts (and records) every request to a non-local host."""

    def __init__(self, browser, **options):
        self.blocked: list[str] = []
        self.context = browser.new_context(ignore_https_errors=True, **options)
        self.context.route("**/*", self._route)

    def _route(self, route) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:", "about:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("internetdisconnected")

    def close(self) -> None:
        self.context.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page PNG under var/screenshots/ and print its path (the run lists them)."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


CONTRAST_JS = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (e) => {
    for (; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  let worst = [21, ""];
  for (const e of document.querySelectorAll("body *")) {
    const text = [...e.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent)
      .join("").trim();
    if (!text || !e.offsetParent) continue;
    const [a, b] = [lum(rgb(getComputedStyle(e).color)), lum(background(e))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < worst[0]) worst = [ratio, `${e.tagName}.${e.className}: ${text.slice(0, 40)}`];
  }
  return worst;
}"""


def assert_contrast_aa(page) -> None:
    """Every visible text at least 4.5:1 against its background (WCAG AA)."""
    ratio, where = page.evaluate(CONTRAST_JS)
    assert ratio >= 4.5, f"contrast {ratio:.2f}:1 at {where}"
