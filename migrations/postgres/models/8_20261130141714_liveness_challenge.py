from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "liveness_challenge" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "challenge_hash" VARCHAR(64) NOT NULL UNIQUE,
    "steps" VARCHAR(32) NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "issued_at" TIMESTAMPTZ NOT NULL,
    "finished_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "capture_token_id" INT NOT NULL REFERENCES "capture_token" ("id") ON DELETE CASCADE
);
COMMENT ON COLUMN "liveness_challenge"."status" IS 'ISSUED: issued\nUSED: used\nVOIDED: voided';
COMMENT ON TABLE "liveness_challenge" IS 'A head-turn challenge (SPEC §9a): 16 random bytes, stored hashed, for one link,';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "liveness_challenge";"""


MODELS_STATE = (
    "eJztXWtz2rga/isavpx2Ju005NIue+bMEOK0bAnkBNLuhR1X2CL4YGTWkkOZ3f73I/kCvs"
    "d2DDGOvrRB1ivbzytL711/NxaGinTytr3UPqN1owX+bmC4QOyP0JUj0IDL5badN1A40e2u"
    "cKnJc7fThFATKpQ1T6FOEGtSEVFMbUk1A/PObUAonE5B+6YLGFELGFhfA40SMPzUftM8Ow"
    "caYReW9GdAZ4h34Q1kZqww66ogAClQTAT5eG/5LVVDYffU8P1ORrew9peFZGrcI0Zgsnv8"
    "8Sdr1rCKviPi/VzO5amGdDWAoKbyAex2ma6XdlsX0yu7I3/wiawYurXA287LNZ0ZeNNbw5"
    "S33iOMTEgRH56aFgcVW7ruwu/h7DzptovziD4aFU2hpXPWcGrnAbZtDVnuD0byUBrJciPC"
    "No/Ch7XbpBiYs5w9KrHf/p4/wpvm8en70w8n56cfWBf7MTct7384t94C4xDa8PRHjR/2dU"
    "ih08PGeAuq/X8E1s4MmvG4ev1DyLJHDiPr4ZgGrdewxXY7y/cB7gJ+l3WE7+mM/Tx+9y4F"
    "yi/t286n9u0r1us1v6XBPkvnc+27l5rONY73Fl/2RcgzSGZ5MPbTlIPz807hAMrnpxlAPj"
    "9NxJhfCkK8NNFU+54H4C1FHadxM8ssbiZP4mYYYBM9GHOkypBGQb5kMFFtgeKBDlKGwFZd"
    "0rfeHxmgd+dtVZBPQXrUvZaGo/b1DR9+Qchfug1XeyTxK027dR1qfXUe4spmEPC1O/oE+E"
    "/w+6Av2WgahN6b9h23/Ua/N/gzQYsaMjZWMlT9mHjNXlOAyzokVLZIIT6HaQWnq8xpWyAr"
    "xOcgZQlcrtxSyl5QHTAZ152BB8J292OJcJ3L0tO5T/DjDROozFfQVOXIFaNpJPWNXlo0F+"
    "EWiOG9zTMOLn9MT+mxVI1KDwjTRpxKtL16lKoW8X4y2nR8VDX6OjOAqqlgNYP0iP2LcAso"
    "bFxyBAjS2bOzP1YanakmXLERjsCSTWcElBnE9/waVBcaBuwWbDwS1Y3KH75k5ehCu38p+t"
    "FPzebJyfvmu5PzD2en79+ffXi3UZSil9I0povuR640BT7Sx7Uoh4l5RNAtxa5E0GcU8bPo"
    "UefJatR5RItiaBlmTngdgjoK+LvQUxWLUGOBTDmXlSVE9fhyUkjQOzx7yxZXFVGoORtZEN"
    "NfhoN+PKg+krCEpSkU/AN0jWQBttAsbvx7amF7bQITS9OpxrYmftv/NPYvWHOIAsKVN4Nf"
    "Xbd/DU/uTm9wEZaa+AAX4Yl+UMLvXqe+kH13IvvS2RX7ni0TxQu/28uPSL90Jk99PTN4Bl"
    "amge9dC/4crY/AZA0UXWMCNBM+VQYvadlmezozDUp1BIwp+EYWZALx/K19Q+/KtzjXQJnD"
    "j/EYd7HdnUtZE8jfiP/iIjOdsXsCJvmba7AyzDkyAcQqmLFJAgiTARABr4Y3UgeMrXfv4P"
    "vj5uuM4vQfDed5eW/f5/2nELMrKWZvmZVVDtxS1FAQLN+ULjZHsTnuc3PswCVl+9nImCMc"
    "tzsGrqduj4rTky32XtcM+yPbW97w6ejaa5hgjectcNIEJttejAXbz6htzWG6JGLbDSQzpL"
    "JdzrDY5kMNe2syEZudhMZtjyWPLjzn1fKc2zMtt283SCW8u497dy2TrXcJMQoSthY2zl32"
    "TBArKOrq3ZJXWQJo8FX+8rb9td1r+YzGY3zziS36MgOn/1FqORZk2bEgj7HUvx30rqX+qA"
    "UQNg194Yo6eZnWzGJPaiabk5oRaxJjBrVijB7ZeLalrjTL2p1R9wtjCjflPjB2DO86HUm6"
    "lC5bgFiKgpCK1DG+and7vImrbkgtwp7j8yzmvrAA4bP2nUfMqZSixZIS22WbY2uI0BUy+B"
    "Xiz7tK7xI+wYVxzoMpB7Jhsv0BW/kdeIst+r7UmNhbQDsJUtbQb30g6kim8ISphjUuCxfg"
    "c4hUhKFUmc+HZWwQYSjFrQ3VcDRWjsklb49+5SAfujGUO3LlHjTAW70sH7wROgGuA27ECh"
    "ldJqIwXxkm0u7xZ7SOaJEhXD0jom+oA1sifnhTyWvdzgM2nzaWvvDyyDBgb46ojcItW7Fv"
    "u51RI2Eul4Dw18BghzWPs0Ic+YgzgOxfV0uA+YYP19mMVk+cY/aiBKSTXRa+ZWQGdW5IQT"
    "HK+IVLe/X5FukwIRzPhb6nPTC0Cel449VoMfmxUw+PgR+QSaD7sFEPj//6UaqHJ9wzQ/wv"
    "MhGAwFsd/0XA8HoI/APx6AWskp/tHEbA+x8BzAMNgIbB0jQUxnOwQAvDXMcFAJc+vnDyVM"
    "vJw03RhX0PG+L9mbEZY3XvQTIbsruXPakFOOUYt7+2u6Nu/6O8dUjIncElN3OvoEYZL2Tf"
    "TsjD3eNphlLvqptA5fhDfXSukyN4G3cjCN7B6RkZ3OnrjXtx2+53PslB18nEZDyayeEtOa"
    "8x/iRLdt1JcnbdSSS7rkJWzWqKDFW3eghjlzB2JXDdWqoFuR6kFFyvCtdjPnb36YUhbsdS"
    "mjDE7QXcChnoD161SDFwCgNcqQY49hSgf9frCQPcrg1wW6TzxAxnsewPMBoZ7J892PWfdW"
    "Upw6rfaQ877UspxISnmeo8POPMdD6sU0x0/l6PmeeS4RJGsGoZwUSNMF+obLZY2bRg2Ui0"
    "rL3i5gF4Q1C7+PHyQ5GhohgWpjK2FpO4TSethkCYUsD9KNwTqPNdW15oOK5iQ1quZIS0Nt"
    "HFe0mb9EtYpomwss4z2f00e3RX3A0vc3orCs70kyxm+2Sr/eEnODScNIW8vqFwkkNv0PnM"
    "0xl0Q5lXJZ1hCtmqgdgirar8MWIWHQzNdULEcIQ2xBI7S+9gtb3YRcStlLGxpDJoL7r99u"
    "1vm7oaG3Nqb9D/eBFTWePit5HUjmODrRXkWXiCVIW+h4pBH5zup1m22NPkLfY0ssU6U5Yn"
    "fOnFguRj6IXzsDr+hJiMCM4xt/ZHnqyiCF1tJKrSrN02RNvNLLRxGIaOIE4Bd0sZ3jYY6a"
    "6w3bTsed8YDHqBL+aiGxJF+3fXFxLbvO1PhXXSaIKEShZENpbcv2lYMetXKu4RWoF8DuSZ"
    "inVvwThreDbR1U+/R+HVqemQR3CV+jwreoylIfufFBFUP2TYuD8k7tsfwtu2rxSoPOMjWp"
    "hqMaJS+uadPIrYwqu8hduFYYttNGFSsd7lWO8c8CzswFck/CpuAPGtVfpbE7F2NYu6ErF2"
    "L5HrSbF2OYqX+RYFf4GwJ2YDhcuSHdh0SEwECoSlYzbIk9OmkHqPmFZBzXVdcbLlg6ehxO"
    "Ne2MLSYb/qipI/qOiJaOULwjpItHxK3tOwyhUXeDBQ5cpX9H+pwQTCeFi9ILQMu0BovIMU"
    "+OPRzRE11sV2xcprRAi0bbOR2LFQj6O0CDLN6SsvfJ0fzfOU7MLQLqmdgmmYQIH8redojV"
    "Rel3q00nTN+BcBRFMBMQAEJuIbnApWaDIzjDkwLUzsMyujiZ67uEGW4tRT01jIm2AfUaC6"
    "IpEWyZFy7rSVSRwbkn2gIbLahRntoFA12/9xkqP5cSu2j3yPRmyyIHmt2GytaQFGN8ZfBt"
    "2O1AIPhqYUSlwt2ZodXJoyO/sDVDWMDy0/PZipvrlh9tMIkDOAPDHUmGi5EfqeFKro9q8F"
    "uGnWIOnXUcAQFDmBJxAp5HUPH8sjDhmotZ2u2mX/KqZ31bJuWsUwLiPBqliaW3nZWH7TaY"
    "xSHbKsJmvUut1RRpuej6rTA4yAG4vvHlb6FoxmCDgj8UOctiWPALEWhJ9WwXRYzfTIohp0"
    "SWOKA1IPVDGes5cvqqx5tFUWthqX0s1g2B21gIrYzqnRMY4/0aGI6raDAwAWdmZTgSSdMG"
    "WdKvHuOU3Hy3eCU8oW6CckTIUGECwpzBITTRFPg8qlbQeIame7K3/xEfqf0P/2qP9VdGUT"
    "xZCqCm7ltOuqzeAy1OuqVyU/iAIxWWuSP5MFI1IzO86OEVdYO8Wa4XaXlUD/DGd9ztjW+o"
    "ZaJgYb0sCh0T/B11zYST+cc2qY9rmc/CjPo4iRYxc3GWOIyQrx6zx0wNYkNQw0Stj1qSPw"
    "7MAy8lLMIjurmbPhf+4TQqOUtdMpyo8HIBQtE8oxJGQRegRVtipVxj96eOUuCpjwusPhHS"
    "9toRFi8ZM774b8Fz/q0o6+sA/2fDA0tSplL5znLKBGBwhrmO5wIGpzplwmcRjiy+DzYRnF"
    "RPZSSVYxf1JSTtNYDKmwj2Uw4fhxK8OOU89csKOwLSdmumUoSLs3Y4M/hyrGzBBKsUo2MP"
    "A0Jb5O2gfPZLUtnL9RtXuNAk6zUecNtmIBSADE4NN1u3MEnOwBylMDlpbJVhLErqnsF7Em"
    "/0MKjUZNlDqysBBUy0LgcqqoUuUjr7RWFR8GMcbB05meeixT+YVM3U8nl01hS7IrljyjHz"
    "gTxMcpGB9HQebLWn4DmZ+oynO/MtYxXgLO1hAoWixpvgpyEUpRQy7sga3QCW5Vm9kHoqtl"
    "UtG5JbBIdREiTDAHwV+Fy1kFa6qGaQWnK83pgzK2iQg0EYFWOflHBEntNUjqmYxqFn2suE"
    "e4y1Gqcc3tnK+8B88Tsim/tzwLGDck8PQgN5eI/QkpUCAXtYBGj/glDNjttQc7cmayBhCs"
    "DHOOzKiRrfzhs5T22PrEMfpOPQVL1PZ47lyA1IgeUXLiOUtOVLUSwvPZ5MoP9BFlPUTFif"
    "pVnOB7q87gybVy+GhqAfquj6U5vBjBButqIY/1mTfI/95JdpygQz3GQ6l/2e1/ZJsmwvwQ"
    "KbtlZP+kY3wp9bpfpFtOsJEYx/iu72tnEvH2ylW72+ONjuWdjXV3c8P0ADsWkVjLJVOISV"
    "UiEAs4FIQnIc2TENYFIrimW6diyIVPodqWSB0yJqjyJN9hjQGq+p2ZtoN6gS5ihc5ciRAL"
    "636Vv6mlaTxoKjLzVuEM04nv6vHvSoeEysg040pXJCMdpKofzmeZTgk/Szkl/Cx6SjgXJw"
    "vIBD4ysWxVedkiSDER+ywKB5PEDrAXnj9DbnQ9WK6Y1mRSyBEdIhWfdpX5LOINXmC8gTiP"
    "qm5cj/nWo8cBiTq3NQ4yqRjGZcSYPHedW/9xTjHxJaHTnpJjS8IZJFnytkzE2Egoz5xaGA"
    "/IX4PWTqbCaMUedzFBZsvOwHKL0trt9v3cUBCCdPa2cflbO7iDyOOqVh6XwWhye8wDRDV0"
    "L5afj8W+iPwwB4gEzFnS3iruxS1h5Wi0v7a7o27/o9wZXEotAFdQowxzO+V3jDdXh1Lvqu"
    "u/7izCY9wZXN/0pBH3yCrGYsl30hjHbafd70g9u2mTHTDG0q83Xdvp65hpCjlyy+f6y4tt"
    "u7hl7PnUAhOTvdGsCBeOM+VDpqRDxmdD8uljmXGHZCZrD2E64ViPOwZefkCmxroXPQU+TC"
    "9sbtXRw6PmF/d7kE0ESdx5nynRjBHK+nmompk8VM0UD1Uz6qESebAv4svayDyF1tEgrVhD"
    "K83pg/JbCBO2cFwIrh+e46JyTK6j56JqIO8rPTah8F+Men3h0l99vkU6tN8nGfh8Rf+qKa"
    "JEsP+xSz/PHU/47fDDw2yfRcTRE7h+lObpseyz0hVf10ddPdIDYu8OHBoVLLn7he1AYMU4"
    "YKyckvtsfhCAmI6/dnN5AWEqIiLg1TeyIBOI52//sgwKybfXUU/PLm4gDjs80EzhOcoVze"
    "92r12V/+PzTBbS8xQT6XmMjdTCMXJpim3U7S9sotGDo/jaJDMhw8wt6Ydp6xeZdriivdDj"
    "66/RJenxEb3jeYJ6fEdvxYh6wYO5kgW94GlgWQJ6thRe5E3LLZ3si6Jxf6DvbDB97Ry15B"
    "xDbR+SHRfGU9q4IninWsE74iDkCpy6K2JOHo85ad/c3A6+8MARtl6axoMdYSLiUEQciohD"
    "OSSdS8ShvDTdawqVJ3E8jl5wvPIcV7XtHhXy8ugGTKy2H6IMMXrKSWvF3MvB3UVPAje3Uq"
    "c77A76QW7aF3kTa9A8n0+7F1pTTTRFJorFOtnoGiCqX3xX+bWeRDydiKerDvp12i9EPN2L"
    "4bSww78QO7yIp6sz10U8XS4mi3g6EU8n4ulKdrG2kakps0aMe9W9cpTmWoXbPo+5VZNhEM"
    "7MajkzH5BJtHy6uY+kjunxZ2dZtPKzs2StnF8LFb1mH1UOhN3uNUT3OJPN4zjF5nEctXmw"
    "O1IUF+H3y3DQT9KBNyRhEVlTKPgH6Bo5RLkpBVwORkAOjpySED4QISTg8gEu4uSqfcYL/f"
    "g/En3iKA=="
)
