"""One load of a `SecretSettings`: its environment, sources, merge, validation, audit and error.

`SecretSettings.__init__` hands its keyword arguments here, in a container whose repr hides
them. The sources run inside pydantic-settings' own `BaseSettings.__init__`, with the load
under way in `resolve.CURRENT`; what fails becomes one `SettingsError`, raised with nothing
chained, and what succeeds becomes the instance's `ResolutionRecord`.
"""

from __future__ import annotations

import inspect
import os
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings
from pydantic_settings import SettingsError as UpstreamSettingsError

from nova_config.compose import own_sources
from nova_config.errors import Problem, SettingsError
from nova_config.hidden import HiddenDict, HiddenEnviron
from nova_config.invalid import invalid_problems, load_error
from nova_config.merge import source_failure
from nova_config.provenance import Provenance, ResolutionRecord
from nova_config.resolve import CURRENT, Load, audit, audit_wanted, environment_of

if TYPE_CHECKING:
    from pydantic_core import InitErrorDetails

    from nova_config.settings import SecretSettings

# The process environment as every load reads it, through a view whose repr hides it: it is
# passed down through the sources' frames, which error trackers record.
ENVIRON = HiddenEnviron(os.environ)

# pydantic-settings' own keyword options of a settings class (`_env_file=None`, `_secrets_dir=`).
INIT_OPTIONS = frozenset(
    name for name in inspect.signature(BaseSettings.__init__).parameters if name.startswith("_")
)


def load_into(model: SecretSettings, init: HiddenDict[str, Any]) -> ResolutionRecord:
    """Load `model` (being constructed) from its keyword arguments and the sources.

    Raises:
        SettingsError: anything missing or invalid, a store that failed where failing is the
            policy, or an audit log that cannot be written where that is fatal.
    """
    cls = type(model)
    options: HiddenDict[str, Any] = HiddenDict(
        {name: init.pop(name) for name in [n for n in init if n in INIT_OPTIONS]}
    )
    field = cls.__nova_environment_field__
    environment = environment_of(init, ENVIRON, field)
    given = field is not None and field in init
    if given and field is not None:
        init[field] = environment  # as validated: `Production` becomes `production`
    load = Load(
        f"{cls.__module__}:{cls.__qualname__}",
        cls.__nova_plans__,
        environment,
        ENVIRON,
        dotenv_disabled="_env_file" in options and options["_env_file"] is None,
        environment_field=field,
    )
    invalid: list[Problem] = []
    lines: list[InitErrorDetails] = []
    failed: SettingsError | None = None
    token = CURRENT.set(load)
    try:
        if options or not cls.__nova_own_order__:
            BaseSettings.__init__(model, **options, **init)
        else:  # nova-config's order, no option: only the sources the order consults are made
            BaseSettings.__init__(model, _build_sources=(own_sources(cls, load, init), init))
    except SettingsError as exc:
        failed = exc  # a store's configuration (always fatal): already nova-config's own
    except ValidationError as exc:
        invalid, lines = invalid_problems(cls, exc, load)
    except UpstreamSettingsError as exc:
        # Raised while pydantic-settings sets its sources up (its CLI source quotes the
        # argument it could not parse): the same named error as a source's own failure.
        failed = source_failure(exc, "set-up", cls, load)
    finally:
        CURRENT.reset(token)
    if failed is None:
        if field is not None and not given:
            load.provenance[field] = (
                Provenance("env", "NOVA_ENV")
                if "NOVA_ENV" in ENVIRON
                else Provenance("default", "default value")
            )
        failed = load_error(cls, load, invalid, lines)
    if audit_wanted(ENVIRON):
        failed = audit(load, failed, model)
    if failed is not None:
        # Raised outside the except blocks, so that the ValidationError (which keeps the
        # inputs in its errors()) is neither the cause nor the context of what users see.
        raise failed
    return load.record()


__all__ = ["ENVIRON", "INIT_OPTIONS", "load_into"]
