"""Integration: the Snakemake report of a tiny scratch experiment, opened in headless Chromium.

The workflow runs on the fixtures (default target, so the report outputs must be part of
``rule all``), then ``snakemake --report`` writes ``results/report.html`` and ``.zip``.
The HTML report is a single-page app with every result embedded as a data URI. A copy of
it gets a probe script that, once the app has rendered, opens every result through the
app's own viewer and measures it (image size, share of non-white pixels; rows of HTML
tables); Chromium runs it (``--dump-dom``) and the probe's findings are read back from the
dumped DOM. A missing, empty or blank plot makes the test fail.

Chromium: Debian's ``chromium`` package. Without it the browser tests are skipped, except
under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import re
import subprocess
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml
from conftest import ARTIFACTS, require_chromium
from workflow_helpers import (
    REPO,
    copy_workflow,
    load_json,
    planned_rules,
    snakemake,
    tiny_data_config,
    write_config,
)

from nerflow.data.cluener import read_records
from nerflow.evaluation.errors import ERROR_CATEGORIES, error_rows
from nerflow.report.error_browser import MAX_CORRECT

EXPERIMENT = "tiny"
EXPERIMENT_CONFIG = {
    "encoder": "scratch",
    "scratch": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64},
    "head": "crf",
    "max_len": 64,
    "train": {"epochs": 2, "batch_size": 8, "lr": 5.0e-3, "head_lr": 5.0e-2},
}
FIGURES = (
    "results/plots/label_distribution.svg",
    "results/oracle/plots/text_lengths.svg",
    *(
        f"results/{EXPERIMENT}/plots/{name}.svg"
        for name in ("per_type_f1", "training_curves", "confusion", "text_lengths")
    ),
)
TABLES = {  # HTML tables shown in the report: minimum number of body rows
    "results/leaderboard.html": 2,  # the experiment and the oracle reference
    f"results/{EXPERIMENT}/plots/errors.html": 2,  # at least one type and the total
}
DOWNLOADS = ("results/leaderboard.tsv",)
BROWSER = f"results/{EXPERIMENT}/plots/error_browser.html"
PAGES = (BROWSER,)  # HTML pages shown in the report that are not tables
REPORT_RULES = {
    "report_scores",
    "report_training",
    "report_confusion",
    "report_error_browser",
    "report_lengths",
    "report_labels",
    "leaderboard",
}
MIN_INK = 0.005  # share of non-white pixels below which a figure counts as blank

PROBE = r"""
(function () {
  const tick = () => new Promise((resolve) => setTimeout(resolve, 50));
  const decode = (uri) => new TextDecoder().decode(
    Uint8Array.from(atob(uri.split("base64,")[1] || ""), (c) => c.charCodeAt(0)));
  async function displayedImage(uri) {
    for (let i = 0; i < 200; i++) {
      const img = Array.from(document.querySelectorAll("#app img")).find((x) => x.src === uri);
      if (img && img.complete) return img;
      await tick();
    }
    return null;
  }
  function ink(img) {
    const w = img.naturalWidth, h = img.naturalHeight;
    if (!w || !h) return 0;
    const canvas = document.createElement("canvas");
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, w, h);
    ctx.drawImage(img, 0, 0, w, h);
    const data = ctx.getImageData(0, 0, w, h).data;
    let inked = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i] < 200 || data[i + 1] < 200 || data[i + 2] < 200) inked++;
    }
    return inked / (w * h);
  }
  async function probe() {
    const out = { errors: [], results: {} };
    await tick();
    out.app_children = document.querySelector("#app").childElementCount;
    out.categories = categories;
    out.workflow_desc_chars = (workflow_desc || "").length;
    for (const [path, entry] of Object.entries(results)) {
      const rec = { mime: entry.mime_type, caption_chars: (entry.caption || "").length };
      try {
        if (entry.mime_type.startsWith("image/")) {
          app.setView({ content: "img", contentPath: entry.data_uri, resultPath: path });
          const img = await displayedImage(entry.data_uri);
          rec.displayed = img !== null;
          if (img) {
            rec.width = img.naturalWidth; rec.height = img.naturalHeight; rec.ink = ink(img);
          }
        } else if (entry.mime_type === "text/html") {
          app.setView({ content: "html", contentPath: entry.data_uri, resultPath: path });
          await tick();
          rec.displayed = Array.from(document.querySelectorAll("#app iframe"))
            .some((frame) => frame.src === entry.data_uri);
          const doc = new DOMParser().parseFromString(decode(entry.data_uri), "text/html");
          rec.table_rows = doc.querySelectorAll("table tbody tr").length;
        } else {
          rec.bytes = decode(entry.data_uri).length;
        }
      } catch (error) {
        out.errors.push(path + ": " + error);
      }
      out.results[path] = rec;
    }
    return out;
  }
  function publish(value) {
    const pre = document.createElement("pre");
    pre.id = "nerflow-probe";
    pre.textContent = JSON.stringify(value);
    document.body.appendChild(pre);
  }
  window.addEventListener("load", () => {
    probe().then(publish, (error) => publish({ fatal: String(error) }));
  });
})();
"""

BROWSER_PROBE = r"""
(function () {
  const visible = () => document.querySelectorAll("li.error:not([hidden])").length;
  const shown = () => document.querySelectorAll("section.record:not([hidden])").length;
  const box = (group, value) => Array.from(document.querySelectorAll(
    'input[name="' + group + '"]')).find((b) => b.value === value);
  const set = (input, on) => { input.checked = on; input.dispatchEvent(new Event("change")); };
  function probe() {
    const out = { errors: visible(), records: shown(), kinds: {}, types: {} };
    out.status = document.getElementById("status").textContent;
    for (const input of document.querySelectorAll('input[name="kind"]')) {
      set(input, false);
      out.kinds[input.value] = { errors: visible(), records: shown(),
        dimmed_marks: document.querySelectorAll("mark.err.off").length };
      set(input, true);
    }
    document.querySelector('button[data-group="type"][data-set="none"]').click();
    out.no_type = { errors: visible(), records: shown() };
    for (const input of document.querySelectorAll('input[name="type"]')) {
      set(input, true);
      out.types[input.value] = visible();
      set(input, false);
    }
    document.querySelector('button[data-group="type"][data-set="all"]').click();
    out.restored = visible();
    const clean = () => document.querySelectorAll("section.record.correct:not([hidden])").length;
    out.correct = { before: clean() };
    set(box("correct", "show"), true);
    out.correct.after = clean();
    out.correct.records = shown();
    const link = document.querySelector("a[href]");
    out.first_link = link ? link.href : null;
    return out;
  }
  window.addEventListener("load", () => {
    let value;
    try { value = probe(); } catch (error) { value = { fatal: String(error) }; }
    const pre = document.createElement("pre");
    pre.id = "nerflow-probe";
    pre.textContent = JSON.stringify(value);
    document.body.appendChild(pre);
  });
})();
"""
LINK_PROBE = r"""
window.addEventListener("load", () => {
  const links = {};
  for (const a of document.querySelectorAll("td a[href]")) links[a.textContent] = a.href;
  const pre = document.createElement("pre");
  pre.id = "nerflow-probe";
  pre.textContent = JSON.stringify(links);
  document.body.appendChild(pre);
});
"""


# --------------------------------------------------------------------------- helpers


def embedded_results(report: Path) -> dict:
    """The ``results`` object embedded in a Snakemake HTML report (path -> entry)."""
    text = report.read_text("utf-8")
    match = re.search(r"var results = (\{.*?\});\s*</script>", text, re.S)
    assert match, f"{report}: no embedded results"
    return json.loads(match.group(1))


def chromium_command(browser: str, scratch: Path, *arguments: str) -> list[str]:
    return [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        f"--user-data-dir={scratch / 'chromium-profile'}", *arguments,
    ]  # fmt: skip


def run_probe(page: Path, probe: str, browser: str, scratch: Path) -> dict:
    """Run ``probe`` (a script that publishes its findings in ``<pre id="nerflow-probe">``)
    on a copy of ``page`` beside it (relative links keep working) in headless Chromium;
    return its findings."""
    text = page.read_text("utf-8")
    cut = text.rindex("</body>")
    probed = page.with_name(f"{page.stem}.probe.html")
    probed.write_text(f"{text[:cut]}<script>{probe}</script>{text[cut:]}", "utf-8")
    try:
        command = chromium_command(
            browser, scratch, "--virtual-time-budget=60000", "--dump-dom", probed.as_uri()
        )
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    finally:
        probed.unlink()
    assert result.returncode == 0, result.stderr[-4000:]
    match = re.search(r'<pre id="nerflow-probe">(.*?)</pre>', result.stdout, re.S)
    assert match, f"the probe did not report; Chromium stderr:\n{result.stderr[-4000:]}"
    return json.loads(html.unescape(match.group(1)))


def probe_report(report: Path, browser: str, scratch: Path) -> dict:
    """Run the probe on a copy of ``report`` in headless Chromium; return its findings."""
    return run_probe(report, PROBE, browser, scratch)


def report_problems(probe: dict) -> list[str]:
    """Everything wrong with the probed report: missing, undisplayed, empty or blank items."""
    if "fatal" in probe:
        return [f"probe failed: {probe['fatal']}"]
    problems = [f"probe error: {error}" for error in probe["errors"]]
    if probe["app_children"] < 1:
        problems.append("the report app did not render")
    found = probe["results"]
    for path in FIGURES:
        item = found.get(path)
        if item is None:
            problems.append(f"{path}: not in the report")
        elif not item.get("displayed"):
            problems.append(f"{path}: not displayed by the report viewer")
        elif not (item.get("width", 0) > 50 and item.get("height", 0) > 50):
            problems.append(f"{path}: empty image ({item.get('width')}x{item.get('height')})")
        elif item.get("ink", 0.0) < MIN_INK:
            problems.append(f"{path}: blank image (ink {item.get('ink')})")
        elif not item.get("caption_chars"):
            problems.append(f"{path}: no caption")
    for path, min_rows in TABLES.items():
        item = found.get(path)
        if item is None:
            problems.append(f"{path}: not in the report")
        elif not item.get("displayed") or item.get("table_rows", 0) < min_rows:
            problems.append(f"{path}: table not displayed or with too few rows ({item})")
    for path in PAGES:
        item = found.get(path)
        if item is None or not item.get("displayed") or not item.get("caption_chars"):
            problems.append(f"{path}: page not in the report, not displayed or no caption")
    for path in DOWNLOADS:
        if not found.get(path, {}).get("bytes"):
            problems.append(f"{path}: missing or empty download")
    return problems


# --------------------------------------------------------------------------- fixture


@pytest.fixture(scope="module")
def report_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole DAG (default target) on the fixtures, then the HTML report."""
    workdir = copy_workflow(tmp_path_factory.mktemp("report"))
    write_config(workdir, tiny_data_config(experiments={EXPERIMENT: EXPERIMENT_CONFIG}))
    snakefile = workdir / "Snakefile"
    planned = set(planned_rules(workdir, snakefile=snakefile))
    missing = REPORT_RULES - planned
    assert not missing, (
        f"the default target does not run {sorted(missing)}: include "
        "workflow/rules/report_common.smk and report.smk, and add report_targets() to rule all"
    )
    snakemake(workdir, "--cores", "2", snakefile=snakefile)
    snakemake(workdir, "--report", "results/report.html", snakefile=snakefile)
    return workdir


# --------------------------------------------------------------------------- tests


def test_report_outputs_exist_and_are_embedded(report_run: Path) -> None:
    embedded = embedded_results(report_run / "results/report.html")
    for path in (*FIGURES, *TABLES, *PAGES, *DOWNLOADS):
        data = (report_run / path).read_bytes()
        assert data, f"{path} is empty"
        assert path in embedded, f"{path} is not in the report"
        uri = embedded[path]["data_uri"]
        assert base64.b64decode(uri.split("base64,", 1)[1]) == data, f"{path} embedded differs"
    for path in FIGURES:
        assert embedded[path]["mime_type"] == "image/svg+xml"
        assert b"<path" in (report_run / path).read_bytes()


def test_report_opens_in_headless_chromium(report_run: Path, tmp_path: Path) -> None:
    browser = require_chromium()
    probe = probe_report(report_run / "results/report.html", browser, tmp_path)
    assert report_problems(probe) == []
    assert probe["workflow_desc_chars"] > 0, "no workflow description (report: directive)"
    assert set(probe["categories"]) == {"Data", "Leaderboard", "Experiments"}
    assert set(probe["categories"]["Experiments"]) == {EXPERIMENT}


def test_a_blank_or_empty_plot_fails_the_browser_check(report_run: Path, tmp_path: Path) -> None:
    browser = require_chromium()
    emptied, blanked = (report_run / FIGURES[0]), (report_run / FIGURES[2])
    saved = {path: path.read_bytes() for path in (emptied, blanked)}
    try:
        emptied.write_bytes(b"")
        blanked.write_text(
            '<svg xmlns="http://www.w3.org/2000/svg" width="400pt" height="300pt">'
            '<rect width="100%" height="100%" fill="white"/></svg>',
            "utf-8",
        )
        snakemake(report_run, "--report", "results/broken.html", snakefile=report_run / "Snakefile")
    finally:
        for path, data in saved.items():
            path.write_bytes(data)
    problems = report_problems(probe_report(report_run / "results/broken.html", browser, tmp_path))
    assert any(problem.startswith(f"{FIGURES[0]}: ") for problem in problems), problems
    assert f"{FIGURES[2]}: blank image" in " ".join(problems), problems


def test_zip_report_holds_every_result(report_run: Path) -> None:
    snakemake(report_run, "--report", "results/report.zip", snakefile=report_run / "Snakefile")
    with zipfile.ZipFile(report_run / "results/report.zip") as archive:
        names = archive.namelist()
        assert "report/report.html" in names
        for path in (*FIGURES, *TABLES, *PAGES, *DOWNLOADS):
            stored = [name for name in names if name.endswith("/" + Path(path).name)]
            data = {archive.read(name) for name in stored}
            assert (report_run / path).read_bytes() in data, f"{path} missing from the zip"


def test_leaderboard_lists_the_experiment_and_the_oracle_reference(report_run: Path) -> None:
    scores = load_json(report_run / f"results/{EXPERIMENT}/dev_scores.json")
    summary = load_json(report_run / f"results/{EXPERIMENT}/train_summary.json")
    labels = load_json(report_run / "results/data/labels.json")["labels"]
    with open(report_run / "results/leaderboard.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert [(row["rank"], row["experiment"], row["kind"]) for row in rows] == [
        ("1", EXPERIMENT, "experiment"),
        ("ref", "oracle", "reference"),
    ]
    row = rows[0]
    assert float(row["micro_f1"]) == pytest.approx(scores["micro"]["f1"], abs=5e-5)
    assert float(row["clue_macro_f1"]) == pytest.approx(scores["clue_macro_f1"], abs=5e-5)
    for entity_type in labels:
        expected = scores["per_type"][entity_type]["f1"]
        assert float(row[f"f1_{entity_type}"]) == pytest.approx(expected, abs=5e-5)
    assert int(row["params"]) == summary["params"] > 0
    assert row["encoder"] == "scratch 1x32" and row["head"] == "crf"
    assert rows[1]["micro_f1"] == "1.0000" and rows[1]["params"] == ""


def test_error_browser_filters_in_headless_chromium(report_run: Path, tmp_path: Path) -> None:
    browser = require_chromium()
    gold = read_records(report_run / "results/data/dev.jsonl")
    pred = read_records(report_run / f"results/{EXPERIMENT}/predictions/dev.json")
    rows = error_rows(gold, pred)
    assert rows, "the tiny model makes no error: nothing to browse"
    found = run_probe(report_run / BROWSER, BROWSER_PROBE, browser, tmp_path)
    assert "fatal" not in found, found
    records = {row["id"] for row in rows}
    assert (found["errors"], found["records"]) == (len(rows), len(records)), found
    assert found["status"] == f"{len(rows)} errors in {len(records)} records match the filters."
    for kind, seen in found["kinds"].items():  # one kind unchecked
        left = [row for row in rows if row["category"] != kind]
        assert seen["errors"] == len(left), (kind, seen)
        assert seen["records"] == len({row["id"] for row in left}), (kind, seen)
        assert (seen["dimmed_marks"] > 0) == (len(left) < len(rows)), (kind, seen)
    assert set(found["kinds"]) == set(ERROR_CATEGORIES)
    assert found["no_type"] == {"errors": 0, "records": 0}
    for entity_type, seen in found["types"].items():  # only this type checked
        involved = [r for r in rows if entity_type in (r["gold_type"], r["pred_type"])]
        assert seen == len(involved), (entity_type, seen)
    assert set(found["types"]) >= set(load_json(report_run / "results/data/labels.json")["labels"])
    assert found["restored"] == len(rows)
    clean = min(len({record.id for record in gold} - records), MAX_CORRECT)
    assert clean > 0
    assert found["correct"] == {"before": 0, "after": clean, "records": len(records) + clean}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "error_browser.png"
    shot.unlink(missing_ok=True)
    command = chromium_command(
        browser, tmp_path, "--window-size=1280,1400", "--hide-scrollbars",
        f"--screenshot={shot}", (report_run / BROWSER).as_uri(),
    )  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and shot.stat().st_size > 10_000, result.stderr[-4000:]


def test_the_leaderboard_links_each_error_browser(report_run: Path, tmp_path: Path) -> None:
    board = report_run / "results/leaderboard.html"
    hrefs = dict(re.findall(r'<a href="([^"]+)">([^<]+)</a>', board.read_text("utf-8")))
    assert {name: href for href, name in hrefs.items()} == {
        EXPERIMENT: f"{EXPERIMENT}/plots/error_browser.html"
    }
    links = run_probe(board, LINK_PROBE, require_chromium(), tmp_path)
    assert set(links) == {EXPERIMENT}  # the oracle reference has no error browser
    target = Path(unquote(urlparse(links[EXPERIMENT]).path))
    assert target.resolve() == (report_run / BROWSER).resolve() and target.is_file()


def test_text_length_stats_use_the_experiment_tokenizer(report_run: Path) -> None:
    stats = load_json(report_run / f"results/{EXPERIMENT}/plots/text_lengths.json")
    assert stats["max_len"] == EXPERIMENT_CONFIG["max_len"] and stats["mode"] == "char"
    dev = load_json(report_run / "results/data/dev.report.json")
    # char mode, every fixture character in the train vocabulary or [UNK]: chars + [CLS] [SEP]
    assert stats["splits"]["dev"]["mean"] == pytest.approx(dev["chars_mean"] + 2, abs=1e-3)
    assert stats["splits"]["dev"]["n"] == dev["records"]


def test_editing_plot_code_reruns_only_the_report_rules(report_run: Path) -> None:
    plots = report_run / "src/nerflow/report/plots.py"
    original = plots.read_text("utf-8")
    try:
        plots.write_text(original + "\n# an edit\n", encoding="utf-8")
        rules = set(planned_rules(report_run, snakefile=report_run / "Snakefile")) - {"all"}
    finally:
        plots.write_text(original, encoding="utf-8")
    # the error browser does not draw with plots.py: it stays, and so does the leaderboard
    assert rules == REPORT_RULES - {"leaderboard", "report_error_browser"}


# --------------------------------------------------------------------------- docs


def rulegraph_edges(mermaid: str) -> set[tuple[str, str]]:
    """(source rule, target rule) pairs of a ``--rulegraph mermaid-js`` flowchart."""
    names = dict(re.findall(r"^\s*(id\d+)\[(\w+)\]", mermaid, re.M))
    edges = re.findall(r"^\s*(id\d+) --> (id\d+)", mermaid, re.M)
    assert names and edges, mermaid
    return {(names[source], names[target]) for source, target in edges}


def test_documented_rulegraph_matches_the_workflow(tmp_path: Path) -> None:
    doc = (REPO / "docs/rulegraph.md").read_text("utf-8")
    config = yaml.safe_load(re.search(r"```yaml\n(.*?)```", doc, re.S).group(1))
    config["data"] = {split: str(REPO / path) for split, path in config["data"].items()}
    files = config.get("annotate", {}).get("files", {})
    config["annotate"]["files"] = {name: str(REPO / path) for name, path in files.items()}
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "--rulegraph", "mermaid-js")
    documented = rulegraph_edges(re.search(r"```mermaid\n(.*?)```", doc, re.S).group(1))
    assert rulegraph_edges(result.stdout) == documented, (
        "docs/rulegraph.md is stale: regenerate it as it describes"
    )


def test_the_readme_links_the_rule_graph_and_stays_a_short_page() -> None:
    readme = (REPO / "README.md").read_text("utf-8")
    assert "(docs/rulegraph.md)" in readme and "```mermaid" not in readme
    assert len(readme.encode("utf-8")) <= 10_500, "README is a product page: about 10 KB"
    for link in re.findall(r"\]\(([\w./-]+\.md)(?:#[\w-]+)?\)", readme):
        assert (REPO / link).is_file(), link
