"""Take the screenshot of the explorer shown in docs/serve.md: `kgjudge serve` over a build
output, a headless Chromium (Debian's chromium and chromium-driver, through selenium) opening
an entity and one of its facts.

    python scripts/serve-screenshot.py --out out/demo --entity "Marie Curie" --png docs/serve-explorer.png
    python scripts/serve-screenshot.py --out out/rebel --entity India --hops 2 --rejected --fact "country"
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="a kgjudge build output folder")
    parser.add_argument("--entity", required=True, help="the entity to open")
    parser.add_argument("--fact", help="text of the relation of the fact to open (default: the first edge)")
    parser.add_argument("--hops", type=int, default=1, choices=[1, 2, 3])
    parser.add_argument("--rejected", action="store_true", help="show rejected facts too")
    parser.add_argument("--png", default="docs/serve-explorer.png")
    parser.add_argument("--size", default="1400,860", help="window width,height")
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serve.log"
        kgjudge = Path(sys.executable).with_name("kgjudge")
        server = subprocess.Popen([str(kgjudge), "serve", "--out", args.out, "--port", "0"], stdout=log.open("w"),
                                  stderr=subprocess.STDOUT)
        try:
            while not (found := re.search(r"open (http://\S+/)", log.read_text())):
                if server.poll() is not None:
                    raise SystemExit(log.read_text())
                time.sleep(0.1)
            options = webdriver.ChromeOptions()
            options.binary_location = "/usr/bin/chromium"
            for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars",
                         f"--window-size={args.size}", f"--user-data-dir={tmp}/profile"):
                options.add_argument(flag)
            driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
            try:
                query = f"?entity={quote(args.entity)}&hops={args.hops}" + ("&rejected=1" if args.rejected else "")
                driver.get(found.group(1) + query)
                wait = WebDriverWait(driver, 60)
                wait.until(lambda d: d.execute_script("return window.kgjudge && window.kgjudge.cy.edges().length > 0"))
                edge_id = driver.execute_script(
                    "const edges = window.kgjudge.cy.edges().filter(e => !arguments[0] || e.data('label').includes(arguments[0]));"
                    "return edges.length ? edges[0].data('tripleId') : null;", args.fact)
                if edge_id is None:
                    raise SystemExit(f"no edge of {args.entity!r} matches {args.fact!r}")
                driver.execute_script("window.kgjudge.cy.getElementById(window.kgjudge.edgeId(arguments[0])).emit('tap');", edge_id)
                wait.until(lambda d: d.execute_script("return !!document.getElementById('judgements') || "
                                                      "!!document.querySelector('#fact .muted')"))
                time.sleep(1.0)
                Path(args.png).parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(args.png)
                print(f"wrote {args.png}")
            finally:
                driver.quit()
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
