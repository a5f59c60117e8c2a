"""The sync configuration: a typed, closed model of what the admin chose in YAML.

Everything an admin of the managed Heymarket package set up in its screens (objects to sync, scope,
list view, default phone field, delete option, auto-create, field mapping, required field defaults)
lives in one YAML file (``include/mappings/sync.yaml`` by default). It is checked twice:

* on load (:func:`load_config`): shape, closed sets, cross-field rules. Every problem names the file,
  the line, the key path and what to do;
* at run time against live metadata (:func:`validate_against_describe`): field names and types from
  the Salesforce describe, custom field titles from Heymarket, fields required to auto-create.

Both systems are compared on canonical keys (``first``, ``last``, ``email``, ``phone`` and
``custom.<Heymarket field title>``, see ``docs/contracts.md``); the helpers on :class:`SyncConfig`
translate between those keys and Salesforce API names so no other module needs to know the mapping.

The modules, none of which imports this package (so there is no import cycle, type-only imports included):
``problems`` (:class:`ConfigProblem`, :class:`ConfigError`, shared by the others), ``model`` (the pydantic
models and their rules), ``loader`` (YAML with file, line and key path in every problem) and ``describe``
(the run-time checks against Salesforce and Heymarket metadata).
"""

from .describe import (
    Describe,
    DescribeField,
    required_create_columns,
    required_on_create,
    validate_against_describe,
)
from .loader import load_config
from .model import (
    ALERT_EVENTS,
    OBJECTS,
    AlertChannelName,
    AlertEvent,
    AlertsConfig,
    EmailAlert,
    FieldMapping,
    GuardsConfig,
    HeymarketConfig,
    HistoryConfig,
    MessagesConfig,
    ObjectConfig,
    ObjectsConfig,
    SalesforceConfig,
    SetupConfig,
    SlackAlert,
    StateConfig,
    SyncConfig,
    WebhookAlert,
)
from .problems import ConfigError, ConfigProblem, ConfigValueError

__all__ = [
    "ALERT_EVENTS",
    "OBJECTS",
    "AlertChannelName",
    "AlertEvent",
    "AlertsConfig",
    "ConfigError",
    "ConfigProblem",
    "ConfigValueError",
    "Describe",
    "DescribeField",
    "EmailAlert",
    "FieldMapping",
    "GuardsConfig",
    "HeymarketConfig",
    "HistoryConfig",
    "ObjectConfig",
    "ObjectsConfig",
    "SalesforceConfig",
    "MessagesConfig",
    "SetupConfig",
    "SlackAlert",
    "StateConfig",
    "SyncConfig",
    "WebhookAlert",
    "load_config",
    "required_create_columns",
    "required_on_create",
    "validate_against_describe",
]
