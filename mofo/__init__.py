"""mofo: Modality Forcing for images and depth with one diffusion transformer.

Public API:
    ModalityDiT, ModelConfig, presets     the network and its configurations
    SamplingConfig                        a checkpoint's sampling defaults per mode
    DepthCodec, ImageCodec, contract, uncontract
    FlowConfig, training_losses           the training objective
    timesteps, sample                     the sampler
    Pipeline                              a trained model, one method per mode
"""
from .codecs import DepthCodec, ImageCodec, contract, uncontract
from .config import ModelConfig, SamplingConfig, get_preset, presets
from .flow import FlowConfig, training_losses
from .model import ModalityDiT, parameter_counts, position_ids
from .pipeline import Pipeline
from .sampling import sample, timesteps

__all__ = [
    "DepthCodec", "FlowConfig", "ImageCodec", "ModalityDiT", "ModelConfig", "Pipeline", "SamplingConfig", "contract", "get_preset",
    "parameter_counts", "position_ids", "presets", "sample", "timesteps", "training_losses", "uncontract",
]
