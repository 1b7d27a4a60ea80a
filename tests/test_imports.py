"""The training and evaluation code must import where kedro and mlflow are not installed (a bare
GPU box running bench/gpu_check.py); only pipeline wiring and datasets need kedro."""
import subprocess
import sys

BLOCKED = ("kedro", "kedro_mlflow", "kedro_datasets", "mlflow")

SCRIPT = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {BLOCKED!r}:
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
import faceless.pipelines.srgan.nodes
import faceless.pipelines.classifier.nodes
import faceless.pipelines.evaluation.nodes
import faceless.training.loop
print('ok')
"""


def test_nodes_import_without_kedro_or_mlflow():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
