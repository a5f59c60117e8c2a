"""Pure sync engine: configuration, phone keys, three-way plan, guards, validation and state. Never imports Airflow."""
