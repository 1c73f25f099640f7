from pathlib import Path
from ..model import Plan, SourceContext

def plan_posekit(ctx: SourceContext, path: Path) -> Plan:
    raise NotImplementedError
