"""A pytest plugin that puts nova-config's `SecretSettings` where upstream's `BaseSettings` was.

Loaded with `-p swap_plugin`, it is imported before any test module, so the upstream tests'
`from pydantic_settings import BaseSettings` (the only place they take the name from) receives
`SecretSettings`. `pydantic_settings.main.BaseSettings` is left as it is: pydantic-settings' own
code uses that name for its `issubclass` checks, which must keep matching every settings class.
"""

import pydantic_settings

# nova_config takes the real BaseSettings as its base class while it is imported, so it is
# imported before the name is rebound.
from nova_config import SecretSettings

# Through the module's namespace: a plain assignment to a class name is refused by mypy.
vars(pydantic_settings)["BaseSettings"] = SecretSettings
