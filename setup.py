"""Map the top-level code folders into the single ``classkit`` namespace.

engine/ -> classkit.engine, cli/ -> classkit.cli, app/ -> classkit.app, models/ -> classkit.models.
Nothing generic such as ``engine`` lands in site-packages. Subpackages are found automatically.
"""
from setuptools import find_packages, setup

FOLDERS = {"engine": "engine", "cli": "cli", "app": "app", "models": "models", "qml": "qml"}

packages: list[str] = []
package_dir: dict[str, str] = {}
for name, folder in FOLDERS.items():
    top = f"classkit.{name}"
    packages.append(top)
    package_dir[top] = folder
    for sub in find_packages(folder, exclude=["*.tests", "*.tests.*"]):
        packages.append(f"{top}.{sub}")
        package_dir[f"{top}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)
