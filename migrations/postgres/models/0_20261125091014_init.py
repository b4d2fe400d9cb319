from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "api_key" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(100) NOT NULL,
    "key_hash" VARCHAR(64) NOT NULL UNIQUE,
    "prefix" VARCHAR(12) NOT NULL,
    "revoked_at" TIMESTAMPTZ,
    "last_used_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE "api_key" IS 'A staff API key: only its SHA-256 is kept; the key is shown once at creation.';
CREATE TABLE IF NOT EXISTS "audit_event" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "action" VARCHAR(60) NOT NULL,
    "actor" VARCHAR(100) NOT NULL,
    "customer_id" INT,
    "details" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_audit_event_action_3fd1cc" ON "audit_event" ("action");
CREATE INDEX IF NOT EXISTS "idx_audit_event_custome_356c76" ON "audit_event" ("customer_id");
CREATE INDEX IF NOT EXISTS "idx_audit_event_created_a87696" ON "audit_event" ("created_at");
COMMENT ON TABLE "audit_event" IS 'Who did what, when: codes, selfies, withdrawals, phone changes, admin actions.';
CREATE TABLE IF NOT EXISTS "customer" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL,
    "phone" VARCHAR(20) NOT NULL UNIQUE,
    "account_number" VARCHAR(20) NOT NULL UNIQUE,
    "balance_minor" BIGINT NOT NULL,
    "currency" VARCHAR(3) NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "face_embedding" BYTEA,
    "face_model" VARCHAR(40),
    "face_enrolled_at" TIMESTAMPTZ,
    "face_failures" INT NOT NULL,
    "face_locked" BOOL NOT NULL,
    "sms_opted_out" BOOL NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL
);
COMMENT ON COLUMN "customer"."status" IS 'ACTIVE: active\nLOCKED: locked';
CREATE TABLE IF NOT EXISTS "inbound_message" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "message_sid" VARCHAR(64) NOT NULL UNIQUE,
    "channel" VARCHAR(8) NOT NULL,
    "from_phone" VARCHAR(32) NOT NULL,
    "to_phone" VARCHAR(32) NOT NULL,
    "body" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "customer_id" INT REFERENCES "customer" ("id") ON DELETE SET NULL
);
CREATE INDEX IF NOT EXISTS "idx_inbound_mes_from_ph_4ae6d4" ON "inbound_message" ("from_phone");
CREATE INDEX IF NOT EXISTS "idx_inbound_mes_created_84ecd7" ON "inbound_message" ("created_at");
COMMENT ON COLUMN "inbound_message"."channel" IS 'SMS: sms\nVOICE: voice';
COMMENT ON TABLE "inbound_message" IS 'Every inbound SMS or call, keyed by Twilio''s sid so a retried webhook runs once.';
CREATE TABLE IF NOT EXISTS "one_time_code" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "purpose" VARCHAR(20) NOT NULL,
    "subject" VARCHAR(120) NOT NULL,
    "code_hash" VARCHAR(64) NOT NULL,
    "failed_attempts" INT NOT NULL,
    "expires_at" TIMESTAMPTZ NOT NULL,
    "used_at" TIMESTAMPTZ,
    "cancelled_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "customer_id" INT NOT NULL REFERENCES "customer" ("id") ON DELETE RESTRICT
);
CREATE INDEX IF NOT EXISTS "idx_one_time_co_subject_ff13b1" ON "one_time_code" ("subject");
CREATE INDEX IF NOT EXISTS "idx_one_time_co_created_12c840" ON "one_time_code" ("created_at");
COMMENT ON COLUMN "one_time_code"."purpose" IS 'WITHDRAWAL: withdrawal\nPHONE_CHANGE: phone_change';
COMMENT ON TABLE "one_time_code" IS 'A 6-digit code, stored only as an HMAC, bound to a purpose and a subject.';
CREATE TABLE IF NOT EXISTS "outbound_message" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "channel" VARCHAR(8) NOT NULL,
    "to_phone" VARCHAR(32) NOT NULL,
    "from_phone" VARCHAR(32) NOT NULL,
    "body" TEXT NOT NULL,
    "template" VARCHAR(40) NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "attempts" INT NOT NULL,
    "next_attempt_at" TIMESTAMPTZ NOT NULL,
    "claimed_by" VARCHAR(64),
    "claimed_until" TIMESTAMPTZ,
    "provider_sid" VARCHAR(64),
    "last_error" VARCHAR(500),
    "sent_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "customer_id" INT REFERENCES "customer" ("id") ON DELETE SET NULL
);
CREATE INDEX IF NOT EXISTS "idx_outbound_me_to_phon_c20fea" ON "outbound_message" ("to_phone");
CREATE INDEX IF NOT EXISTS "idx_outbound_me_next_at_fa7274" ON "outbound_message" ("next_attempt_at");
CREATE INDEX IF NOT EXISTS "idx_outbound_me_provide_114554" ON "outbound_message" ("provider_sid");
CREATE INDEX IF NOT EXISTS "idx_outbound_me_created_a78339" ON "outbound_message" ("created_at");
COMMENT ON COLUMN "outbound_message"."channel" IS 'SMS: sms\nVOICE: voice';
COMMENT ON COLUMN "outbound_message"."status" IS 'QUEUED: queued\nSENDING: sending\nSENT: sent\nDELIVERED: delivered\nUNDELIVERED: undelivered\nFAILED: failed\nSUPPRESSED: suppressed';
COMMENT ON TABLE "outbound_message" IS 'The outbox: stored with the change that caused it, then delivered by a worker.';
CREATE TABLE IF NOT EXISTS "phone_change" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "old_phone" VARCHAR(20) NOT NULL,
    "new_phone" VARCHAR(20) NOT NULL,
    "status" VARCHAR(20) NOT NULL,
    "channel" VARCHAR(10) NOT NULL,
    "code_failures" INT NOT NULL,
    "code_verified_at" TIMESTAMPTZ,
    "failure_reason" VARCHAR(200),
    "expires_at" TIMESTAMPTZ NOT NULL,
    "completed_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "customer_id" INT NOT NULL REFERENCES "customer" ("id") ON DELETE RESTRICT
);
CREATE INDEX IF NOT EXISTS "idx_phone_chang_status_114287" ON "phone_change" ("status");
COMMENT ON COLUMN "phone_change"."status" IS 'AWAITING_CODE: awaiting_code\nAWAITING_SELFIE: awaiting_selfie\nCOMPLETED: completed\nFAILED: failed\nCANCELLED: cancelled\nEXPIRED: expired';
COMMENT ON COLUMN "phone_change"."channel" IS 'SMS: sms\nBRANCH: branch';
COMMENT ON TABLE "phone_change" IS 'A request to move a customer to a new number: code to the new phone, then selfie.';
CREATE TABLE IF NOT EXISTS "withdrawal" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "amount_minor" BIGINT NOT NULL,
    "status" VARCHAR(20) NOT NULL,
    "channel" VARCHAR(10) NOT NULL,
    "code_failures" INT NOT NULL,
    "code_verified_at" TIMESTAMPTZ,
    "face_verified_at" TIMESTAMPTZ,
    "face_distance" DOUBLE PRECISION,
    "reference" VARCHAR(16),
    "failure_reason" VARCHAR(200),
    "expires_at" TIMESTAMPTZ NOT NULL,
    "completed_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "customer_id" INT NOT NULL REFERENCES "customer" ("id") ON DELETE RESTRICT
);
CREATE INDEX IF NOT EXISTS "idx_withdrawal_status_ccbae9" ON "withdrawal" ("status");
COMMENT ON COLUMN "withdrawal"."status" IS 'AWAITING_CODE: awaiting_code\nAWAITING_SELFIE: awaiting_selfie\nAPPROVED: approved\nCOMPLETED: completed\nFAILED: failed\nCANCELLED: cancelled\nEXPIRED: expired';
COMMENT ON COLUMN "withdrawal"."channel" IS 'SMS: sms\nBRANCH: branch';
COMMENT ON TABLE "withdrawal" IS 'A withdrawal request: code, then selfie, then exactly one ledger entry.';
CREATE TABLE IF NOT EXISTS "capture_token" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "purpose" VARCHAR(20) NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "attempts_used" INT NOT NULL,
    "max_attempts" INT NOT NULL,
    "expires_at" TIMESTAMPTZ NOT NULL,
    "finished_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "customer_id" INT NOT NULL REFERENCES "customer" ("id") ON DELETE RESTRICT,
    "phone_change_id" INT REFERENCES "phone_change" ("id") ON DELETE RESTRICT,
    "withdrawal_id" INT REFERENCES "withdrawal" ("id") ON DELETE RESTRICT
);
COMMENT ON COLUMN "capture_token"."purpose" IS 'WITHDRAWAL: withdrawal\nPHONE_CHANGE: phone_change\nENROLMENT: enrolment';
COMMENT ON COLUMN "capture_token"."status" IS 'ACTIVE: active\nSUCCEEDED: succeeded\nFAILED: failed';
COMMENT ON TABLE "capture_token" IS 'A one-time selfie link: 32 random bytes, stored hashed, bound to one request.';
CREATE TABLE IF NOT EXISTS "conversation" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "state" VARCHAR(32) NOT NULL,
    "expires_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "phone_change_id" INT REFERENCES "phone_change" ("id") ON DELETE SET NULL,
    "withdrawal_id" INT REFERENCES "withdrawal" ("id") ON DELETE SET NULL,
    "customer_id" INT NOT NULL UNIQUE REFERENCES "customer" ("id") ON DELETE CASCADE
);
COMMENT ON COLUMN "conversation"."state" IS 'IDLE: idle\nAWAITING_WITHDRAWAL_CODE: awaiting_withdrawal_code\nAWAITING_WITHDRAWAL_SELFIE: awaiting_withdrawal_selfie\nAWAITING_PHONE_CODE: awaiting_phone_code\nAWAITING_PHONE_SELFIE: awaiting_phone_selfie';
COMMENT ON TABLE "conversation" IS 'Where a customer''s SMS conversation stands; kept here, never in process memory.';
CREATE TABLE IF NOT EXISTS "ledger_entry" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "kind" VARCHAR(16) NOT NULL,
    "amount_minor" BIGINT NOT NULL,
    "balance_after_minor" BIGINT NOT NULL,
    "reference" VARCHAR(16) NOT NULL UNIQUE,
    "created_at" TIMESTAMPTZ NOT NULL,
    "customer_id" INT NOT NULL REFERENCES "customer" ("id") ON DELETE RESTRICT,
    "withdrawal_id" INT REFERENCES "withdrawal" ("id") ON DELETE RESTRICT
);
CREATE INDEX IF NOT EXISTS "idx_ledger_entr_created_b7ce0f" ON "ledger_entry" ("created_at");
COMMENT ON COLUMN "ledger_entry"."kind" IS 'DEPOSIT: deposit\nWITHDRAWAL: withdrawal';
COMMENT ON TABLE "ledger_entry" IS 'One balance change. The ledger of a customer sums to their balance.';
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSONB NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztXVtz2zYW/isYvWx3xsnE8iVedWdnaJlJ2MiS15KTtusdDkRCFtcUqJKgbU2b/74AL+"
    "JdJmlKhmi8tDGAA1LfAYFzx5+dhaUj03kvLY2vaNXpgT87GC4Q/Ueq5wB04HIZtbMGAqem"
    "NxQuDfU+GDR1iA01Qptn0HQQbdKRo9nGkhgWZoMl4BA4mwHpSgGUqAcsbK6AQRww/iK965"
    "6cAsOhHUvyMyBzxIawBmduPWI6VEMAEqDZCLL53rNH6pZGn2ngu63M7mLjDxepxLpDlMCm"
    "z/jPf2mzgXX0hJzwz+W9OjOQqScQNHQ2gdeuktXSa1Mw+eQNZC8+VTXLdBc4GrxckbmF16"
    "MNTFjrHcLIhgSx6YntMlCxa5oB/CHO/ptGQ/xXjNHoaAZdk7GGUfsvELV1VHU4mqhjeaKq"
    "nQzbQooY1kGTZmHGcvqqjvfr79grvOseHn88Pjs6PT6jQ7zXXLd8/OE/OgLGJ/TgGU46P7"
    "x+SKA/wsM4AtX7fwbW/hza+biG41PI0ldOIxviuAnasCHCNlrluwB3AZ9UE+E7Mqd/Hn74"
    "sAHKb9J1/4t0/RMd9Xf2SIt+lv7nOgy6un4fwzvCl34R6hw68yoYx2mawfl1l3AC5dPjEi"
    "CfHhdizLqSEC9tNDOeqgAcUbRxGXfLrOJu8SLupgG20YN1j3QVkizIFxQmYixQPtBJyhTY"
    "ekD6PvxHCeiDdcsL8huQniiX8ngiXV6x6ReO84fpwSVNZNbT9VpXqdafTlNcWU8CviuTL4"
    "D9CX4fDWUPTcshd7b3xGjc5PcOeyfoEkvF1qMK9TgmYXPYlOCyCR2iuk4tPqdpBad55rQn"
    "kNXic5KyAS5zt5XSH6iPqIwbrMA9YXvwsWS4zmTp2X1M8GMNU6jdP0JbVzM9VtcqGpvtWn"
    "QX6RaI4Z3HMwYue81Q6XF1g8gPCJNOnkoU9R5sVIvYOBWtBz6rGn2fW0A3dPA4h+SA/hfh"
    "HtDovM4BcJBJ353+49Egc92Gj3SGA7CkyxkBbQ7xHeuD+sLAgD6CzudkdaPmp29YOTo37t"
    "6KfvSPbvfo6GP3w9Hp2cnxx48nZx/WilK2a5PGdK58ZkpT4iN9XovymVhFBI0otiWCvqKI"
    "X0aPOi1Wo04zWhRFy7IrwusTtFHA34aeqrkOsRbIVitZWVJUz28ntQS9/bO3RLjqiEDDP8"
    "iSmP4yHg3zQY2RpCUsQyPgL2AaThlga63izj9nLvb2JjB1DZMY9Ghij/1XZ/eCNYMoIVyF"
    "K/inS+nX9OLuD0bnaamJTXCeXuh7JfzudOkL2XcLsm8fLolro4l1j3Ce9Jvo3yj/av5IKh"
    "6GQ0s4B6jE+Y4tx0AkpXsHvu+Boy6wIdatBZiuiCew0uMS6YBZHZF+AKaWi3VALEYObERX"
    "p0PynAMNzy6cA3w5B7yVVtl8naQSBuznDdiuTfe7AjeMjN2Fh7NC3wliDWWt2RE5z9Juh+"
    "3yF9fSd2nQi+nFt/jqC930VQrO8LPc85Vk1VeSb7E8vB4NLuXhpAcQti1zESj/VZnWLSMy"
    "d4sl5m5GYKbMIG6OXFeOZxE11yyT+hPlG2UK01YfKDvGN/2+LF/IFz3guJqGkI70W/xJUg"
    "asaUbFVqTXYc/haRmNJi1AxBSa04zGSAhaLInjWaUrHA0Zulo6TS3+fOD6lIgJLpRzIUwV"
    "kE2T7Q5Y7k/gCFv0tDSo2FtDO0lSttA0vyfqSCkPzMzABpOFa/A5RSo8bTzzeb+MDcLTVt"
    "/awIctlTsmN3w8xpWDaujmUG7JWr3XAEd6WTV4M3QCXB/cjBUyu01kYf5k2ci4w1/RKqNF"
    "pnANjYixqfZsi/gRLqWwNVoHdD2tLX3p7ZFiQH85Ih4K13THvlb6k07BWm4A4e+JyfZrHZ"
    "eFOPMRlwA5vq82APMVm66/nq2dOOecRQVIv5LLwsIPyHZg8PuzLot4/8FGl0V6ZImYHWQj"
    "AEH4uf/NAePLMYhPxFISsO787OUdADb+AGBEu4GBwdK2NOQ4YIEWlr3KC9ppfH7hteDLa8"
    "Fsq7WN6Wvi3dllKWPN8EVKW2aVi4HcA4zyFkvfJWWiDD+rkYVd7Y8umN32ERqE8kKNbe0s"
    "RC2fZiwPPikFVL6DL0YXWO2Tjwl2tuQT/JGZyf2x/rx1bMZHZeLcj4rj3I8yce4cGd/4PN"
    "l4V86FTUbYZAq47i71mlxPUgqu88L1nI89eHthL9qy7CXsRTsBlyM78t4rDBvscMJO1Kid"
    "iL4FGN4MBsJOtG07UYR0FTtRGQP0CKOJRf+zA/Pzq+4sTRif+9K4L13IKSa8zAAX4plnfI"
    "thvcHwFh/1nNGtGC5h2uLLtCWqdcQiOsuFdG6K6cwEdXo7bhWA1wStC3NuPmIWaprlYqJi"
    "dzHNO3Q2ZfOlKQXcz8I9hSY7tdWFgfNyJzclB2dIWxMEu5M84biEZdsIa6sqiz1Os0MnxM"
    "34oqIPouZKPypjti+22u9/HH7Hj6av6vFJx+IPRv2vLOretLR7XqLuZ5DuGohu0rrOXiNn"
    "08HQXhUEtmZoUyzxksn2VtvL3USCnNW1JZVCe64Mpevf1hmua3PqYDT8fJ6T43r+20SW8t"
    "jgaQVVNp4kVa3vgTPok8v9uMwRe1x8xB5njlh/ybK8JLNeLHcOvXAe8uNPyAncZxxjeU6u"
    "jaokv2ToWiNRNWbt9iCKDrPUwWFZJoJ4A7gRZfrYoKTbwnbdsuNzYzQaJL6YcyUlig5vLs"
    "9lenh7nwodZJACCdVZOKq1ZP5Ny83ZvzbinqEVyFdAXsQhFG8t++mRFnEIb5HrRXEIFeqP"
    "xDaFeI2PHAHjPKD/9PUameuw2gKvTKqyyJ4thyLfTDJkD9NJ8iSxKkANkH6HbJlOtWorTl"
    "5dwpehxHyCdGPp07/ailLc4fpCtKo5qPcSrVhty5dhVSlmYm+gqpShEf9SkykT+bCGDvoS"
    "p0Bqvr20HeSjW8GjrmCv6NQlchzo6a0Zv3pqxMEm77rhj1UXscHPZrbIlA0rEJB6SSeWDT"
    "TIfvU9WiEdTFdg8miYhvU3BziGDhwLQGAjdsDp4BFN55Z1D2wXO97NGtnUlm08QFSk5drT"
    "VBwpECxN1cljQ7ENOEXWOjdr88W7mLSAiwztzzugYuQ79EA5C6eq+4nuJz1A6W7xt5HSl3"
    "vgwTK0Wok7ZyVYcFbIgbOMEd62FmrlwI0kVftqMDefHUW128oox2laGIPUPMhTS88JFpig"
    "p6JIjWB8K8DdZPCRf50kbD2ZUsAJR2k4PF0feJ8tsKIU8J4X5+FMtWpldRPOMG4ivrxelH"
    "9zwehx62iO3pwynhYrzaY3UEXrkc9qzCOMQBCKGNya8h5M5gj4MwFrFqvjABx34bCa0lRN"
    "NeyQLKskNzSn0Iv3VC++pz++rq4W0vIsbHUu5KvRWJn0gI7oyWmQW5xfd7mO5raFMr0LL7"
    "C7RoxymrJN9fJ2HKUchnvDGaEb9AvixVMTCJbUZomNZohFgVfSthNErTPdNb/5CP1P6H87"
    "1P843dlELQheweVOu+ZtBTehXvNeO3Qv8uPLVg59HQtGPHIpx4KRCmwqtmCw4CB2nnsF7s"
    "qZMCRw+k437gzi3Qy7vgnLokcrgA6AGHy5lPqxK7EgCK7zoX06/ctxp/9DWu7lWw3OLPL8"
    "+crzFzdCFdwIVcdqsYW7n/xPp4puFiNpn7P5sBTEhxswPsyCzLa1ynfPJYh4XvvcxK/4l3"
    "bVudAph1JktYkLnRpx93NkVMjJ78hJ63Hq5fQ4Iu93L/irMTmrZpZ3mlZwmmtOC6OwMAoL"
    "o7CwW3JgVitnt3wlo5pLnkupSQ852GhcCwZXS6phoTse5VMvtIAxQwKL2AnCe+g/IQEaZK"
    "IWMMgB68KAPt54QLafFAPBo2XfIztrZGt+ehE4xLUHvtgkJ/I8XjnPg9f8gzblePCcSyPy"
    "PNoC7q7zPJh90iy8E6xg54jRtAL0bdfC28M6nHSoi0LWlz4g/30j37C6mz71LR7Lwwtl+J"
    "kemgizypVey8T7k9ziC3mgfJOvGcFaKLzFN8NYOxV6o55PkjJgjb5xnc51c3VFRf0xa3Pc"
    "5ZLqvA4v1T5r+AyEs2CTswDT/T/0p9QwQOWQt88KtSdWp3K2RhNSHujqtFqB6ARV++q0bi"
    "FHP0DMxcTI0eCeMeumiYX9nudvamlbD4aO7KqVL9J0W/qu2lT6woQOUZFt56WLFAOdpGrf"
    "9nVS6mKSkw0Xk5xkLyZhwmQNiSBGJnYtnnct4XV8g15HUQu2bVzP+dazpThFAYoWu5o5w7"
    "gNBSjipVRzvMypSqvFHuZ0HHmZ7A0bUTY6hOVPLKwHFC8O4aVUYPQI/FvJel4eRlAtwmv3"
    "nhc4hB1k0l+bl8WxhSeIbA6+sjksSlPZqZYgaqEHovmsDPpFVIc5QSRgLpP8wrmjp4Gdoy"
    "N9l5SJMvys9kcX7Mq1R2gQirmX+HeL171jefBJiff7m/At7o8urwbyhDltNGuxZCdpjm+n"
    "Lw378sBrWscI32L51yvF8wv5CQC1fD3Nc/3thb+cX1P2fOmBqU1/0byWx61UVtSGpKj8nK"
    "ga109l6ITvLXMdD4PoAdkGHV7LDpNDL2xu/OjhWfNL8D2oNoJOXq39TTclpinbZ8beyv3a"
    "IhvuTXxZa5mn1j6apBV7KNec3iu/hTBhC8eF4Pr+OS64Y3IbPRe8gbyrJDkuLl/kU0R54a"
    "VmFf08sTJpOW6eZBG1Yi9PsnJbGR9PRBE6Y3pBTa2YYyX4Az3RycwVsPC6ZLhX0DzPs9PY"
    "vMKfw5c/RxSt5qBCsnBDPO+GkK6urkffmC+B7pe29eA5HYRrQrgmhGtCuCaEWY0XTTvPNa"
    "G9iON59ILj3HNcN6IzKqX4mxYsLMOYokwxesZIW8Xci9HN+UAGV9dyXxkro2GSm14na6IN"
    "RmgGkAZ8XLDBGcjbzhAWLlbhYuUH/TadF8LF+mY4LVysLXO2CRfrW+S6cLFWYrJwsQoXq3"
    "CxNuxilZBtaPNOjns16DnY5FqF0Zjn3KrFMAhnJl/OzAdkO0Y13TxG0saMqZOTMlr5yUmx"
    "Vs76UqXS6EdVAeFgeAvRPSxl8zjcYPM4zNo86BMJwjmS8i/j0bBIB16TpEVkQyPgL2Aazj"
    "7KTRvAZWAk5OBMbc10Gc2UgMsmOM+Tq3aZF/7j/0mgJkA="
)
