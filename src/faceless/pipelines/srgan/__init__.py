"""SRGAN: train each generator variant on its pairs (the training side's truth, self pairs, other people;
an identity loss where its block asks), report PSNR/SSIM on validation; import a generator pretrained
elsewhere, as it is, where a block names its file."""
