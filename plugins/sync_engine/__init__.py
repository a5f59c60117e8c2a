"""Pure sync engine: configuration, phone keys, three-way plan, guards, validation and state.

Never imports Airflow; modules are imported where they are used, so importing the package is cheap.
"""
