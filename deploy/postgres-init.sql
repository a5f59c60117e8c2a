-- Run once by the postgres container: the sync's own state database, next to Airflow's metadata DB.
CREATE DATABASE heymarket_sync OWNER airflow;
