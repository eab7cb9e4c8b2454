"""The comparison study (``arena study``): its config (``config``), the stages and measurements
(``run``) and the report (``report``)."""
