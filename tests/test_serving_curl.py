"""The README's serving example works as pasted: after `full` the serving stage writes a request
(data/08_reporting/serving_request.json) that `mlflow models serve` answers with five names per
sequence, posted by exactly the README's curl command (slow: the session's tiny `full`, then a real server)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from faceless.distributed.launch import free_port
from faceless.pipelines.serving.model import decode_input
from faceless.pipelines.serving.nodes import serving_request

from .conftest import PROJECT_ROOT, base_params
from .pipelines.test_serving import wait_for_ping

README = PROJECT_ROOT / "README.md"

#: serving.request_sequences in conf/base: the sequences the example request holds.
REQUEST_SEQUENCES = base_params("serving")["request_sequences"]


def readme_curl() -> str:
    """The README's one curl command (its line, continuation lines joined)."""
    text = README.read_text().replace("\\\n", " ")
    commands = [line.strip() for line in text.splitlines() if line.strip().startswith("curl ")]
    assert len(commands) == 1, commands
    return commands[0]


def test_the_readme_posts_the_request_file_the_serving_stage_writes():
    curl = readme_curl()
    assert "-d @data/08_reporting/serving_request.json" in curl and "http://127.0.0.1:5001/invocations" in curl
    catalog = (PROJECT_ROOT / "conf" / "base" / "catalog.yml").read_text()
    assert re.search(r"^serving_request:\n(  .*\n)*  filepath: data/08_reporting/serving_request.json", catalog, re.M)


def test_the_request_holds_whole_sequences_one_a_person_in_the_served_format():
    rng = np.random.default_rng(0)
    index = pd.DataFrame([{"person": p, "label": p, "person_name": f"person_{p:04d}", "video": v, "sequence": s,
                           "frame": f} for p in range(6) for v in (3, 1) for s in (2, 1) for f in (1, 0)])
    index = index.sample(frac=1.0, random_state=0).reset_index(drop=True)  # any order
    frames = rng.integers(0, 256, (len(index), 8, 8, 3), dtype=np.uint8)
    body = serving_request(frames, index, base_params("serving"))
    assert list(body) == ["dataframe_split"] and body["dataframe_split"]["columns"] == ["sequence", "image"]
    table = pd.DataFrame(body["dataframe_split"]["data"], columns=["sequence", "image"])
    assert list(dict.fromkeys(table["sequence"])) == [f"person_{p:04d}/video_1/seq_1" for p in range(REQUEST_SEQUENCES)]
    decoded, sequences = decode_input(table)
    expected = index[(index["video"] == 1) & (index["sequence"] == 1) & (index["label"] < REQUEST_SEQUENCES)]
    expected = expected.sort_values(["label", "frame"])
    assert np.array_equal(decoded, frames[expected.index.to_numpy()])  # lossless, in frame order
    json.dumps(body)  # what the catalog's JSONDataset writes


@pytest.mark.slow
def test_the_readme_curl_answers_five_names_per_sequence(full_run):
    project, _ = full_run  # the session's tiny `full` run (tests/conftest.py): six people, five names to give
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")}
    request = project / "data" / "08_reporting" / "serving_request.json"
    sequences = list(dict.fromkeys(row[0] for row in json.loads(request.read_text())["dataframe_split"]["data"]))
    assert 1 <= len(sequences) <= REQUEST_SEQUENCES
    model_uri = json.loads((project / "data" / "08_reporting" / "serving_report.json").read_text())["model_uri"]
    assert re.fullmatch(r"runs:/[0-9a-f]{32}/faceless", model_uri), model_uri
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=project, env={**env, "MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_ping(server, port)
        curl = readme_curl().replace("127.0.0.1:5001", f"127.0.0.1:{port}")
        answer = subprocess.run(["bash", "-c", curl], cwd=project, capture_output=True, text=True, timeout=120)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
    assert answer.returncode == 0, answer.stderr
    predictions = pd.DataFrame(json.loads(answer.stdout)["predictions"])
    assert list(predictions["sequence"]) == sequences
    people = set(pd.read_parquet(project / "data" / "03_primary" / "train_index.parquet")["person_name"])
    names = predictions[[f"person_{rank}" for rank in range(1, 6)]]
    assert names.notna().all().all() and set(names.to_numpy().ravel()) <= people
    assert all(len(set(row)) == 5 for row in names.to_numpy())
