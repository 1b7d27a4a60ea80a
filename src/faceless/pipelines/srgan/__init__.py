"""SRGAN: train the generator on the training side (and srgan_self on self pairs, srgan_id with an identity
loss), report PSNR/SSIM on validation."""
