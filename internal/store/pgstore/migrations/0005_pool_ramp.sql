-- 0004: a pool's progressive ramp between two ready versions
-- (store.PoolConfig.Ramp); ramp_version NULL means no ramp.

ALTER TABLE pool_configs
    ADD COLUMN ramp_version      bigint  CHECK (ramp_version >= 1),
    ADD COLUMN ramp_new_percent  integer NOT NULL DEFAULT 0 CHECK (ramp_new_percent BETWEEN 0 AND 100),
    ADD COLUMN ramp_move_percent integer NOT NULL DEFAULT 0 CHECK (ramp_move_percent BETWEEN 0 AND 100);
