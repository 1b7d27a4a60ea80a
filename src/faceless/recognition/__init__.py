"""Recognition engine: who is in a frame, and how well we know it.

Plain PyTorch, no Kedro, no MLflow (numbers go to the tracker the caller passes):

* :mod:`~faceless.recognition.variants`: the input variants (lr, bicubic, srgan, srgan_self,
  clean64, hr), the arrays feeding each, and when one is skipped;
* :mod:`~faceless.recognition.config`: the typed ``params:classifier`` / ``params:evaluation``;
* :mod:`~faceless.recognition.augment`: per-sample augmentation, vectorised over the batch;
* :mod:`~faceless.recognition.trainer`: :class:`ClassifierTrainer`, the one recipe for every variant;
* :mod:`~faceless.recognition.metrics`: frame and sequence metrics, the challenge score;
* :mod:`~faceless.recognition.stats`: cluster bootstrap over test videos, paired differences and
  the sign-flip permutation test;
* :mod:`~faceless.recognition.report`: the comparison across variants (table, markdown, plots).

Backbones are found by the ``arch`` name in their saved config (``faceless.models.BACKBONES``);
frame log-probabilities and sequence pooling come from :mod:`faceless.inference`.
"""
