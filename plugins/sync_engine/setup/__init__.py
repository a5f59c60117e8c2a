"""What the ``heymarket_setup`` DAG decides and how it tells the admin: pure logic, no Airflow, no I/O.

The managed package walked an admin through setup screens (API key, default inbox, user mapping, phone
fields, field mapping, required defaults) and showed a yellow tick per finished screen. The setup DAG does
the same checks in tasks; each task turns what it read into a :class:`~.results.StepResult` with the module
of its step, and the last task renders all of them as one report an admin reads top to bottom: ✔ or ✘ per
step, and for every ✘ what to do about it.

Modules: ``registry`` (the ordered steps, with their DAG task ids: the one list), ``results`` (findings and
step results), ``report`` (Markdown and JSON rendering), and one module per step: ``config_file`` (0),
``credentials`` (1), ``default_inbox`` (2), ``user_mapping`` (3), ``phone_fields`` (4), ``field_mapping`` (5).
Import names from the module that defines them; this package exports nothing.

Personal data: names and e-mails of users appear only as a finding's ``subject``, which the report
artifact shows and the task log replaces with the record ids in ``subject_ref``.
"""
