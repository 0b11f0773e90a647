"""Script writing: `skill_write_script` turns a trend into a short-video script.

`template` is the deterministic offline writer, `llm` the OpenAI-compatible backend used when
configured (`config`); importing the package registers the skill.
"""

from skills.script.models import Script, WriteScriptInput, WriteScriptOutput
from skills.script.skill import write_script

__all__ = ["Script", "WriteScriptInput", "WriteScriptOutput", "write_script"]
