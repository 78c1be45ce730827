-- 0006: HS256 frame-signing secrets are kept sealed (AES-256-GCM under the
-- gateway's secrets key, itself under the KEK; package ingest seals and
-- opens them). sealed: material is the sealed secret. Not sealed: public
-- key material, or an HS256 secret written before this version, which
-- `fifthwheel serve` seals on its first start with the KEK
-- (ListClearSecrets, SealVehicleKey). The store refuses to write a new
-- HS256 secret that is not sealed.
ALTER TABLE vehicle_keys ADD COLUMN sealed BOOLEAN NOT NULL DEFAULT false;
