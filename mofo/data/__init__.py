"""Data: the synthetic RGB-D world, sensor simulators, datasets. Never imports the model."""
from mofo.data.datasets import FolderDataset, ShardDataset, SynthDataset, open_dataset
from mofo.data.sensors import make_sensor
from mofo.data.viz import colorize_depth, contact_sheet, to_uint8
from mofo.data.world import WorldConfig, render, render_scenes, sample_graph, scene_seed, world_config

__all__ = ["FolderDataset", "ShardDataset", "SynthDataset", "WorldConfig", "colorize_depth", "contact_sheet",
           "make_sensor", "open_dataset", "render", "render_scenes", "sample_graph", "scene_seed", "to_uint8",
           "world_config"]
