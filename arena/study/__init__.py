"""The comparison study (``arena study``): its config (``config``), the inputs made beforehand (``inputs``),
the stages (``run``, children through ``child``), the measurements, tournament and ladders (``measure``) and
the report (``report`` with ``shared`` and, for the scale study, ``scale``; across seeds ``seeds``, with
``stats``)."""
