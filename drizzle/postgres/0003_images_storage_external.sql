-- An image is the base64 of a JPEG: pglz finds nothing to save in it (each
-- 36 KB stored as 36 KB), yet tried on every one, a good part of the
-- server's CPU per record. EXTERNAL keeps it out of line, uncompressed.
ALTER TABLE "images" ALTER COLUMN "base64" SET STORAGE EXTERNAL;
