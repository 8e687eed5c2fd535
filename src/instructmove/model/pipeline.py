"""InstructMovePipeline: edit an image with an instruction, using a model trained by the train stage.

    pipe = InstructMovePipeline.from_pretrained("models/pipeline")
    out = pipe(image=frame, prompt="Turn the head to the left", num_inference_steps=50,
               guidance_scale=7.5, image_guidance_scale=1.5, mask_image=None, control_image=None,
               generator=torch.Generator().manual_seed(0))
    out.images[0].save("edited.png")

Images are centre-cropped to a square and resized to the model resolution; `out.images` are PIL
images at that resolution.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DiffusionPipeline
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from instructmove.model import imaging
from instructmove.model.conditioning import control_input, target_part, unet_input


@dataclass
class InstructMovePipelineOutput(BaseOutput):
    images: list  # PIL images, or a latent tensor when output_type="latent"


class InstructMovePipeline(DiffusionPipeline):
    """Spatial (or channel) conditioned editing with dual classifier-free guidance."""

    model_cpu_offload_seq = "text_encoder->unet->vae"
    _optional_components = ["vae", "controlnet"]

    def __init__(
        self, unet, text_encoder, tokenizer, scheduler, vae=None, controlnet=None,
        conditioning: str = "spatial", resolution: int = 32,
    ):
        super().__init__()
        self.register_modules(
            unet=unet, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler,
            vae=vae, controlnet=controlnet,
        )
        self.register_to_config(conditioning=conditioning, resolution=resolution)

    @classmethod
    def from_components(cls, components, model_settings) -> "InstructMovePipeline":
        """Assemble a pipeline with a DDIM scheduler from training components."""
        return cls(
            unet=components.unet,
            text_encoder=components.text_encoder,
            tokenizer=components.tokenizer,
            scheduler=DDIMScheduler.from_config(components.scheduler.config),
            vae=components.vae,
            controlnet=components.controlnet,
            conditioning=model_settings.conditioning,
            resolution=model_settings.resolution,
        )

    @property
    def vae_scale_factor(self) -> int:
        if self.vae is None:
            return 1
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def encode_prompt(self, prompts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(
            prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
            truncation=True, return_tensors="pt",
        )
        return self.text_encoder(tokens.input_ids.to(self.text_encoder.device))[0]

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """Map pixels in [-1, 1] to the space the UNet denoises (VAE latents, or the pixels themselves)."""
        if self.vae is None:
            return pixels
        latents = self.vae.encode(pixels.to(self.vae.dtype)).latent_dist.mode()
        return latents * self.vae.config.scaling_factor

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        if self.vae is None:
            return latents
        return self.vae.decode(latents.to(self.vae.dtype) / self.vae.config.scaling_factor).sample

    def _prepare_images(self, images: list, size: int, convert) -> torch.Tensor:
        tensors = [convert(imaging.square(image, size)) for image in images]
        return torch.stack(tensors).to(self.unet.device)

    def _prepare_mask(self, masks: list, size: int) -> torch.Tensor:
        masks = [imaging.square(mask, size, resample=imaging.Image.Resampling.NEAREST) for mask in masks]
        mask = torch.stack([imaging.to_mask(item) for item in masks]).to(self.unet.device)
        if self.vae_scale_factor > 1:
            # A latent cell may change when any pixel it covers may change.
            mask = F.max_pool2d(mask, self.vae_scale_factor)
        return mask

    def _predict_noise(self, latents, source, null_source, embeddings, timestep, control, control_scale):
        """Run the three guidance branches in one batch: (text, image), (image), (neither)."""
        sources = torch.cat([source, source, null_source])
        model_input = unet_input(sources, torch.cat([latents] * 3), self.config.conditioning)
        model_input = self.scheduler.scale_model_input(model_input, timestep)

        residuals = {}
        if control is not None:
            down, mid = self.controlnet(
                model_input, timestep, encoder_hidden_states=embeddings,
                controlnet_cond=torch.cat([control] * 3), conditioning_scale=control_scale, return_dict=False,
            )
            residuals = {"down_block_additional_residuals": down, "mid_block_additional_residual": mid}

        prediction = self.unet(model_input, timestep, encoder_hidden_states=embeddings, **residuals).sample
        return target_part(prediction, self.config.conditioning).chunk(3)

    @torch.no_grad()
    def __call__(
        self,
        image,
        prompt,
        num_inference_steps: int = 50,
        guidance_scale: float = 7.5,
        image_guidance_scale: float = 1.5,
        mask_image=None,
        control_image=None,
        generator: torch.Generator | None = None,
        controlnet_conditioning_scale: float = 1.0,
        output_type: str = "pil",
    ) -> InstructMovePipelineOutput:
        """Edit each image by its prompt.

        guidance_scale weighs the instruction and image_guidance_scale the source image. With
        mask_image (white = may change), the latents outside the mask are replaced at every step
        by the source latent noised to that step, and by the clean source after the last step.
        """
        prompts = imaging.as_list(prompt)
        images = imaging.as_list(image, len(prompts))
        prompts = imaging.as_list(prompt, len(images))
        if len(images) != len(prompts):
            raise ValueError(f"got {len(images)} images and {len(prompts)} prompts; pass one of each per edit")
        if control_image is not None and self.controlnet is None:
            raise ValueError("control_image needs a pipeline trained with train.controlnet: true; this one has no ControlNet")

        size = self.config.resolution
        source = self.encode_image(self._prepare_images(images, size, imaging.to_tensor))
        text = self.encode_prompt(prompts)
        null_text = self.encode_prompt([""] * len(prompts))
        embeddings = torch.cat([text, null_text, null_text])

        mask = None if mask_image is None else self._prepare_mask(imaging.as_list(mask_image, len(images)), size)
        control = None
        if control_image is not None:
            control = self._prepare_images(imaging.as_list(control_image, len(images)), size, imaging.to_unit_tensor)
            control = control_input(control, self.config.conditioning).to(self.unet.dtype)

        self.scheduler.set_timesteps(num_inference_steps, device=self.unet.device)
        timesteps = self.scheduler.timesteps
        latents = randn_tensor(source.shape, generator=generator, device=source.device, dtype=source.dtype)
        latents = latents * self.scheduler.init_noise_sigma
        mask_noise = randn_tensor(source.shape, generator=generator, device=source.device, dtype=source.dtype)

        for index, timestep in enumerate(self.progress_bar(timesteps)):
            full, image_only, unconditional = self._predict_noise(
                latents, source, torch.zeros_like(source), embeddings, timestep, control,
                controlnet_conditioning_scale,
            )
            noise = (
                unconditional
                + image_guidance_scale * (image_only - unconditional)
                + guidance_scale * (full - image_only)
            )
            latents = self.scheduler.step(noise, timestep, latents, generator=generator).prev_sample

            if mask is not None:
                if index + 1 < len(timesteps):
                    known = self.scheduler.add_noise(source, mask_noise, timesteps[index + 1 : index + 2])
                else:
                    known = source
                latents = mask * latents + (1 - mask) * known

        if output_type == "latent":
            return InstructMovePipelineOutput(images=latents)
        pixels = self.decode_latents(latents)
        return InstructMovePipelineOutput(images=[imaging.to_pil(item) for item in pixels])
