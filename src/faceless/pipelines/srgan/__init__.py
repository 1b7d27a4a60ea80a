"""SRGAN: train the generator on the training side (and srgan_self on self pairs, srgan_id with an identity
loss), report PSNR/SSIM on validation; import srgan_pretrained, a generator pretrained elsewhere, as it is."""
