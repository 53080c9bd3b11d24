"""`python -m compare bench --quick` runs end to end and reports every benchmark. Only the
deterministic figures (XLA's memory_analysis) are asserted; times are for benchmarks."""

import json
import subprocess
import sys


def test_quick_bench_runs_and_reports_every_group(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "compare", "bench", "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    rows = result["results"]
    assert {r["group"] for r in rows} == {"a", "b", "c", "d"}
    assert all(r["ratio"] > 0 for r in rows)
    # (b) the closed-form norms hold no [B, m, n] tensor: a fraction of vmap(grad)'s scratch.
    memory = [r for r in rows if r["what"] == "per_example_grad_norms temp"]
    assert len(memory) == 2 and all(r["ratio"] < 0.02 for r in memory)
    # (d) the fused loss holds [chunk, V] pieces, not the [B, V] logits.
    fused = next(r for r in rows if r["what"] == "fused linear+CE temp")
    assert fused["ratio"] < 0.25
    assert "cpu" in proc.stdout and "B=256" in proc.stdout  # device and shapes beside figures
    assert "bench" in proc.stderr  # the progress bar
