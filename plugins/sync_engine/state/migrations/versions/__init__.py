"""Migration scripts, applied in revision order by ``sync_engine.state.migrate``."""
