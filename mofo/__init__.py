"""mofo: Modality Forcing for images and depth with one diffusion transformer."""
