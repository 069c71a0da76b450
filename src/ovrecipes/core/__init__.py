"""The core layer: what every other layer stands on and nothing here knows of a family or a recipe.

CPU facts (:mod:`.cpu`), OpenVINO models in and out with their error wording (:mod:`.openvino`),
output directories that appear whole or not at all (:mod:`.staging`), the cache (:mod:`.cache`),
hub resolution (:mod:`.hub`), packaged paths (:mod:`.paths`), figures (:mod:`.figures`) and
process memory (:mod:`.memory`).
"""
