"""What crosses between the caller and a worker, and the worker's loop.

The caller and each worker share one duplex pipe and a shared pair of
integers (the item running now, the items started)::

    caller (backends/processes.py)                 worker (worker.py)
    ------------------------------                 ------------------
                                 <-- Y             ready: start-up is over
    F digest payload             -->               function bundle, kept by digest
    T task id, digest, run token -->
    chunk (start, items)         -->               loads it (timed like an item)
                                 <-- R header      task id, done, busy, offset, count
                                 <-- results       (offset, values, errors[, notes])
                                 <-- X task id     the chunk did not load here
                                 <-- I failure     the initializer raised
    S                            -->               stop

A payload is tagged with the serializer that wrote it (see
:mod:`parmap.serializers`); buffers of 1 MiB or more go out of band through
``/dev/shm`` files named by the caller's pid and the run's token
(:mod:`.buffers`). An exception travels as a :class:`.messages.RemoteFailure`
(:mod:`.remote`), with its traceback as text that keeps the user's file and
line (:mod:`.cloudpickler`).

At module level a worker imports this package, :mod:`parmap.serializers`,
:mod:`parmap.errors` and :mod:`parmap._names` only
(tests/unit/test_worker_imports.py); :mod:`.shipping` is the caller's half.
"""
