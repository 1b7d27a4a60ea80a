"""SRGAN: train the generator on the training side, report PSNR/SSIM on validation."""
