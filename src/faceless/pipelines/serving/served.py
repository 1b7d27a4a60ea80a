"""The file MLflow logs as the served model's code ("models from code": nothing pickled); its
state comes from the model's artifacts (see :class:`faceless.pipelines.serving.model.FacelessModel`)."""
from mlflow.models import set_model

from faceless.pipelines.serving.model import FacelessModel

set_model(FacelessModel())
