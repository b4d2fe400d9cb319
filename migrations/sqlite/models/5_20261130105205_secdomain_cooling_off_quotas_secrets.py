from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "usage_counter" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key" VARCHAR(160) NOT NULL UNIQUE,
    "count" INT NOT NULL,
    "window_start" TIMESTAMP NOT NULL,
    "created_at" TIMESTAMP NOT NULL
) /* Events counted per time window, for caps every worker shares (`smsbank.quotas`). */;
CREATE INDEX IF NOT EXISTS "idx_usage_count_window__9e31bd" ON "usage_counter" ("window_start");
        ;
        ALTER TABLE "customer" ADD "withdrawals_held_until" TIMESTAMP;
        ALTER TABLE "customer" ADD "codes_locked" INT NOT NULL DEFAULT 0;
        ALTER TABLE "customer" ADD "codes_unlocked_at" TIMESTAMP;
        ALTER TABLE "outbound_message" ADD "secret_expires_at" TIMESTAMP;
        ALTER TABLE "outbound_message" ADD "scrubbed_at" TIMESTAMP;
        CREATE INDEX "idx_outbound_me_secret__a73877" ON "outbound_message" ("secret_expires_at");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "idx_outbound_me_secret__a73877";
        ;
        ALTER TABLE "customer" DROP COLUMN "withdrawals_held_until";
        ALTER TABLE "customer" DROP COLUMN "codes_locked";
        ALTER TABLE "customer" DROP COLUMN "codes_unlocked_at";
        ALTER TABLE "outbound_message" DROP COLUMN "secret_expires_at";
        ALTER TABLE "outbound_message" DROP COLUMN "scrubbed_at";
        DROP TABLE IF EXISTS "usage_counter";"""


MODELS_STATE = (
    "eJztXWlz2zYa/isYfWk642Ri+YhX3dkZWqZjNbLkteSkhzssREIW1xSoEqRtTZv/vgAPib"
    "dJmpIhGl/aGMQLUs+L473xd2tuasggH6SF/gUtWx3wdwvDOaL/iD3ZAy24WKzbWYMNJ4bb"
    "FS505d7vNCG2BVWbNk+hQRBt0hBRLX1h6yZmnSVAbDidAumqByhRB5jYWALdJmB0Ib1vHx"
    "0DndAHC/snYM8Q68IayMx8xLSrigC0gWohyMb7wF6pmSp9p47vNjK6g/W/HKTY5h2iBBZ9"
    "x+9/0GYda+gJkeDPxb0y1ZGhRRDUNTaA267Yy4Xb1sP2uduRffhEUU3DmeN158XSnpl41V"
    "vHNmu9QxhZ0EZseNtyGKjYMQwf/gBn70vXXbxPDNFoaAodg7GGUXsfsG5rKcpgOFZG8lhR"
    "Wgm2BRQhrP0m1cSM5fRTifvr79gnvG/vH346PDk4PjyhXdzPXLV8+u69eg2MR+jCMxi3vr"
    "vPoQ29Hi7Ga1Dd/ydg7c6glY5r0D+GLP3kOLIBjnnQBg1rbNezfBvgzuGTYiB8Z8/on/sf"
    "P+ZA+VW67l5I1+9orx/ZK026LL3lOvAftb1nDO81vnRFKDNIZmUwDtPUg/PrTuEIyseHBU"
    "A+PszEmD2KQryw0FR/KgPwmqKJ07hdZBa3sydxOw6whR7Me6Qp0E6CfEZhsvU5Sgc6ShkD"
    "W/NJPwT/KAC9P295QT4H6XHvUh6NpcsrNvyckL8MFy5pLLMnbbd1GWt9dxzjymoQ8K03vg"
    "DsT/DbcCC7aJrEvrPcN677jX9rsW+Cjm0q2HxUoBbGJGgOmiJcNiCxFYdU4nOcVnCaZ067"
    "AlklPkcpa+Ayd1sp/YHakMq4/gzcEbb7iyXBdSZLT+9Dgh9rmED1/hFampJ4YrbNrL7JR/"
    "P2PN4CMbxzecbAZZ8ZKD2OptvyA8J2K00lWj/dy1WLWD8FrTo+qxp9m5lA0zXwOIP2Hv0v"
    "wh2g0nHJHiDIoN9O//Go2zPNgo90hD2woNMZAXUG8R17BrW5jgF9BR2PJHWj+oevWTk61e"
    "/ein70r3b74OBT++PB8cnR4adPRycfV4pS8lGexnTa+8yUpsgifV6L8phYRgRdU2xKBH1F"
    "Eb+IHnWcrUYdJ7QoipZplYTXI2iigL8JPVV1iG3OkaWUsrLEqJ7fTioJertnb1njqiEb6t"
    "5BFsX059FwkA5qiCQuYemqDf4Bhk6KAFtpFrf+PXWwuzeBiaMbtk6PJvba/7S2L1gziCLC"
    "VTCD311Kv8Qnd7c/PI1LTWyA0/hE3ynhd6tTX8i+G5B9u3BhOxYam/cIp0m/kee58q/q9a"
    "TiYdC1gHOASpzv2XT0RVK6d+D7DjhoAwtizZyDydJ2BVZ6XCINMKsj0vbAxHSwBmyTkQML"
    "0dlJ7DTnQM2jC+cAX84Bd6aVNl9HqYQB+3kDtmPR/S7DDSNjZ+7i3KPfBLGKktbsNTnP0m"
    "6L7fJn19I3qd8J6cW3+OqCbvoKBWfwWe54SrLiKcm3WB5cD/uX8mDcAQhbpjH3lf+yTGsX"
    "EZnb2RJzOyEwU2bYTopcV4xna2quWSZ1x72vlClMW32g7BjddLuyfCafdQBxVBUhDWm3+F"
    "zq9VnTlIqtSKvCnv3jIhpNXIAIKTTHCY3RttF8YRPXKl3iaEjQVdJpKvHnI9enREhwoZwL"
    "YCqBbJxse8ByfwKvsUVPC52KvRW0kyhlA03zO6KOFPLATHWsM1m4Ap9jpMLTxjOfd8vYID"
    "xt1a0NfNhSuWNyzcdjWDkoh24K5Yas1TsN8FovKwdvgk6A64GbsEImt4kkzOemhfQ7/AUt"
    "E1pkDNfAiBgaase2iO/BVApa1/OAzqeVpS++PVIM6C9HtovCNd2xr3vdcStjLteA8LfIYL"
    "s1j4tCnFjEBUAO76s1wHzFhuuuRmsmzilnUQbSr+SyMPEDsgj0f3/SZRF+vpfrsoj3LBCz"
    "gywEIAiW+w8EjC5HIDwQS0nAGvnJzTsArP8ewIg+BjoGC8tUESFgjuamtUwL2ql9fOG14M"
    "trwWyrlY3pK+Lt2WUpY43gQwpbZntnfbkDGOUtlr5JvXFv8FlZW9iV7vCM2W0foW5TXiih"
    "rZ2FqKXTjOT+eS+DynPwheh8q330Nf7OFn2D1zMxuNc3GPf0Whp0L5SoL2BiUR7NlPgZU9"
    "a6fFAkIv4gOyL+IBERz5GZjs8zkHc1XlhvhPUmg+vOQqvI9Sil4DovXE9Z7P7XC8vShqU0"
    "YVnaCrgcWZx3XrXIsdgJi1KtFiX6FWBw0+8Li9KmLUprpMtYlIqYqocYjU36ny0Yql91Z6"
    "nDTN2VRl3pTI4x4WWmugDPNDNdCOscE12413PmuWy4hBGMLyOYqOsRiv0sFvyZF/2ZCP90"
    "d9wyAK8IGhcQXX9sLVRV08G2gp35JO3Qycv7i1MKuJ+FewINdmorcx2nZVnmpREnSBsTLr"
    "uVjOKwhGVZCKvLMpM9TLNFd8XN6Kykt6LiTD8oYrbPttrvfsR+y4u7L+sbikft94fdLyw+"
    "3zDVe17i86eQ7hqIbtKaxj4jZdPB0FpmhMAmaGMscdPOdlbbS91E/OzWlSWVQnvaG0jXv6"
    "5yYVfm1P5w8Pk0JRv29NexLKWxwdUKymw8UapK64Ez6KPT/bDIEXuYfcQeJo5Yb8qyDCaj"
    "WtR3Cr1wHvLjT0gJ8WccYxlRjoXKpMkk6BojUdVm7XYhWh9msYPDNA0EcQ64a8r4sUFJN4"
    "XtqmXL58Zw2I+smNNeTBQd3FyeyvTwdpcK7aTbGRIqmRPFXDD/pumk7F+5uCdoBfIlkA8V"
    "kVJm7E1Uw9VTDuz8IyR7FHGQ8HyQuCXFqm13cVKx6kqsOg88B3vwVQkCShtArDWu15qI+G"
    "pY7I+I+HqLXM+K+CpREyq0KYTrLqWocqc+/fmXa2SsUh0y/N+xak87Nh2yvODR4GhMB0nT"
    "ecsA1UfaHbJkOtSyqTi58sHLUGLRF3Rj6dK/mopSOLTlhWiVCwXaSbRCSt7LsCoVnbYzUJ"
    "XKmguv1GgaWzqsQShUgVMgNt5OCvzp6JaIXephtxDgJSIEuhbCRARTrMdeXhyT7vVV5qHO"
    "z2YbypQNS+CTuomApgVUyH71PVoiDUyWYPyoG7r5AwFE1wAxAQQWYgecBh7RZGaa98ByMH"
    "FvO0qmG27iBc+HWv3emlrmXFmFnISUkz9KhWGJCuL1+vuz47X8aauQNDZke+JiZI0Ldqm/"
    "2CKTJHCWu/P5MIAQ+RbjAMictMrh3aJ7TQdQulv8ddjryh3wYOpqpfTJkwIsOMnkwEnCFR"
    "rZmgq7nCNUDYxSrD9Jlaq+pWEO0wiQC4A8MbWUmK0xesoKmPP7NwLcPGuQ/Ms4YghK1G6P"
    "xKsE3eMF3UXt9kbb6fiupsaZ3tXIclScYVxHmk+1ZKv6coLCptMUpTpmWc3WqA23o4JWPZ"
    "9Vp4cYAT8i3L/m6gMYzxDwRgLmNFR4BxBnTtglAFSH1a2ALKlB1zSmuFprRxXje/rjqypr"
    "AS3PwlbrTL4ajnrjDtAQPTl1+xanF8qvorptoK763M2vqZAqEqdsUoHTLSeLBFk3cGrTDf"
    "oFaTuxAQRLKrPEQlPEknFKadsRosbZ7urffIT+J/S/Lep/nO5soiQPr+Byp13zNoPrUK95"
    "L/a8E2VKipZ6fh0LRjisKcWCEYt6yrZgsMghdp67FUmLmTAkcPxe0+90273Ke3V1oUmPVg"
    "AJgBhcXErd0B2GEPj3r9FnGv2LOJP/ITX1tsQaRxblVvgqtyKu8Mu4wq+K1WIDl/V5S6eM"
    "bhYiad4N7fuFIN7PwXg/CTLb1kpfFhoh4nnucxPA4t2yWOUGvhRKkVwsbuCrxd3PkVGhUK"
    "YXu96zSsIPEZl8O8FflclZFYttxGkFp7nmtDAKC6OwMAoLuyUHZrVidstXMqo59nP5NvEu"
    "e7nGNb9zuYwbFrrjUj51AgsYMySwiB0/vIf+E9pAhUzUArq9xx5hQF+vPyDLy5iB4NG07p"
    "GVNLLVP3yRbJt1bUCMnuxAwRLpNq/tns+214kskFfOAuE1OeH1bHL15yaITBuRBNK8JBB2"
    "thqZNzxm7BwhmkaAvul6pTtYK5l2dVDA+sIH5H9v5BtWG9mjvsUjeXDWG3ymhybCrLqw2z"
    "J2/7Rv8Znc732VrxnBSmK8xTeDUDuViNdPzqVenzV6lnc61s3VFdUDRqyNOIsFVYgJLxWZ"
    "KzgUhCchz5MQ1wUSuOZbp1LIhU+Bb0ukASkTNGVSrop/hKp5xbQ3kMLvI1apDGqCWFj3eV"
    "5TC8t80DVklS2MEacT6+r5dWVAYivIstKySbKRjlI1D+ejQtdHHeVcH3WUvD6KiZMVZIIQ"
    "mdi2eN62CFItRJdF5WCS1AG2wvNXCFduBstVy5lMKjmiY6RiafPMZxFv8AbjDUSJ6KZxPW"
    "WtJyv0itIzDQ4y4QzjJpSeCVdYTokviRVgzo4tiWeQFMnbshBlI7FZ5tTcfEDhsjBuMhVG"
    "j8C7FrbjZmD5dWLcdvd9figIQQb9tWn5Wxt4g8jj4iuPy6Q0pT3mEaIGuhfrz8eiK6I8zB"
    "EiAXORtDfOvbg17Bwt6ZvUG/cGn5Xu8IzdefsIdZti7qb83uLV05HcP++Fn3ub8C3uDi+v"
    "+vKYeWRVc75gJ2mK47YrDbpy321aZQfcYvmXq57r9PXMNJUcufVz/e3Ftp1eU/ZcdMDEor"
    "9oVoUL+4XyIXPSIdOzISvc/5mgE471tJvZlAdk6bR71YvZ4vTC5saPHp40v/jrQbEQJGlX"
    "cORdVR2nbJ6Hql3IQ9XO8VC1kx4qkQf7JlbWSuaptI9GacUeyjWnd8pvIUzYwnEhuL57jg"
    "vumNxEzwVvIG8rPZaLO1n5FFFeeNdhST/PDUv47bJ63q7PIuHoiTzfy/P0OO71ZWqoa5FL"
    "++hvBx6NBhbM/UJPIPBIOWA+7oGpe8XeggDkXr7n5fICQlVERMC7P8mcTCC+//CXY9qQ/P"
    "lj6qV9tb9A3D+wo5nC96hUNL/fvYHFvAtZSI9zTKTHKTZSB6fIpTm2Ub+/sIkmazmzvUmh"
    "QoZVWtKP0zYvMm13RXuhxzdfo8vS4xN6x+sE9YSqYaeIetFa2dmCXrRAd5GAnjVFEHnT8U"
    "snh6Jo/D/QEx3MWAITr26Gcu+tSgvjqW1cEbzDV/COuJuIg4twRMzJ8zEn0tXV9fArCxyh"
    "+6VlPrgRJiIORcShiDiUXdK5RBzKW9O9plB9EcfT6AXHuee4pq/PqJiXxzBhZrX9GGWM0V"
    "NG2ijmng1vTvsyuLqWu71RbziIctN9yJpogx74fKQ+H/cocgbypms9iXg6EU/HD/pNOi9E"
    "PN2b4bSww78RO7yIp2sy10U8XSkmi3g6EU8n4ulqdrFKyNLVWSvFveo/2ctzrcJ1n+fcqt"
    "kwCGcmX87MB2QRvZxuHiJpYnr80VERrfzoKFsrZ89iRa/poiqBsN+9gejuF7J57OfYPPaT"
    "Ng/6RhulRfj9PBoOsnTgFUlcRNZVG/wDDJ3sotyUAy4DIyIHJ25JiF+IEBNw2QCnaXLVNu"
    "OFvv8fHgNvhQ=="
)
