from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "auth_failure" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "client" VARCHAR(64) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_auth_failur_created_9ebb7b" ON "auth_failure" ("created_at");
CREATE INDEX IF NOT EXISTS "idx_auth_failur_client_405e96" ON "auth_failure" ("client", "created_at");
COMMENT ON TABLE "auth_failure" IS 'A wrong staff key, by client address: the throttle of `smsbank.auth_throttle`.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "auth_failure";"""


MODELS_STATE = (
    "eJztXWtz2rga/isavmx3Ju005NIe9syZIcRp2RLICaTdCzteYYvgg5FZS07C7Pa/H8kXfA"
    "fbMcQ4+tIGWa9sP68svXf93VgYKtLJu/ZS+4JWjRb4u4HhArE/IleOQAMul347b6Bwottd"
    "4VKT526nCaEmVChrnkKdINakIqKY2pJqBuad24BQOJ2C9k0XMKIWMLC+AholYPi5/bZ5dg"
    "40wi4s6U+AzhDvwhvIzHjErKuCAKRAMRHk473jt1QNhd1Tw/c7Gd3C2l8WkqlxjxiBye7x"
    "+x+sWcMqekLE+7mcy1MN6WoIQU3lA9jtMl0t7bYupld2R/7gE1kxdGuB/c7LFZ0ZeN1bw5"
    "S33iOMTEgRH56aFgcVW7ruwu/h7Dyp38V5xACNiqbQ0jlrOLXzAH5bQ5b7g5E8lEay3Iix"
    "zaMIYO02KQbmLGePSuy3v+eP8LZ5fPrh9OPJ+elH1sV+zHXLh+/OrX1gHEIbnv6o8d2+Di"
    "l0etgY+6Da/8dg7cygmYyr1z+CLHvkKLIejpug9Rp8bP1Zvg9wF/BJ1hG+pzP28/j9+w1Q"
    "fm3fdj63b9+wXj/yWxrss3Q+1757qelc43j7+LIvQp5BMsuDcZCmHJxfdgqHUD4/zQDy+W"
    "kqxvxSGOKliabaUx6AfYo6TuNmllncTJ/EzSjAJnow5kiVIY2DfMlgotoCJQMdpoyArbqk"
    "77w/MkDvztuqIL8B6VH3WhqO2tc3fPgFIX/pNlztkcSvNO3WVaT1zXmEK+tBwLfu6DPgP8"
    "Fvg75ko2kQem/ad/T7jX5r8GeCFjVkbDzKUA1i4jV7TSEu65BQ2SKF+BylFZyuMqdtgawQ"
    "n8OUJXC5ckspe0F1wGRcdwYeCNvdjyXGdS5LT+cBwY83TKAyf4SmKseuGE0jrW/80qK5iL"
    "ZADO9tnnFw+WN6So+lalR6QJg2klQi/+rRRrWI95PRuuNW1ejbzACqpoLHGaRH7F+EW0Bh"
    "45IjQJDOnp398ajRmWrCRzbCEViy6YyAMoP4nl+D6kLDgN2CjUfiulH5w5esHF1o969FP/"
    "pXs3ly8qH5/uT849nphw9nH9+vFaX4pU0a00X3E1eaQh/pdi3KYWIeEdSn2JUI+oIifhY9"
    "6jxdjTqPaVEMLcPMCa9DUEcBfxd6qmIRaiyQKeeyskSoti8nhQS9w7O3+LiqiELN2cjCmP"
    "48HPSTQQ2QRCUsTaHgH6BrJAuwhWZx499TC9trE5hYmk41tjXx2/6nsX/BmkMUEq68Gfzm"
    "uv1LdHJ3eoOLqNTEB7iITvSDEn73OvWF7LsT2ZfOrtj3bJkoWfj1L2+RfulMngZ6ZvAMPJ"
    "oGvnct+HO0OgKTFVB0jQnQTPhUGbykZZvt6cw0KNURMKbgT7IgE4jn7+wbelf+THINlDn8"
    "GI9xF9vduZQ1gfyN+C8uMtMZuydgkr+5Ao+GOUcmgFgFMzZJAGEyACLgzfBG6oCx9f49/H"
    "Dc/DGjOP17w3le3jvwef8hxOxKitk+s7LKgT5FDQXB8k3pYnMUm+M+N8cOXFK2n42MOcJJ"
    "u2Po+sbtUXF6ssXe65phf2R7y1s+HV17DROs8bwFTprAZNuLsWD7GbWtOUyXRGy7gWSGVL"
    "bLGRbbfKhhb00mYrOT0KTtseTRhee8Wp5ze6bl9u2GqYR3d7t31zLZepcSoyBha2Hj3GXP"
    "BLGC4q5en7zKEkCDr/KXt+1v7V4rYDQe45vPbNGXGTj9T1LLsSDLjgV5jKX+7aB3LfVHLY"
    "CwaegLV9TJy7RmFntSM92c1IxZkxgzqJVg9MjGM5+60ixrd0bdr4wp3JT7wNgxvOt0JOlS"
    "umwBYikKQipSx/iq3e3xJq66IbUIe47Ps5j7ogJEwNp3HjOnUooWS0psl22OrSFGV8jgV4"
    "g/7yu9SwQEF8Y5D6YcyEbJ9gds5XdgH1v0tNSY2FtAOwlT1tBvfSDqSKbwhKmGNS4LF+Bz"
    "hFSEoVSZz4dlbBBhKMWtDdVwNFaOySVvj0HlIB+6CZQ7cuUeNMC+XpYP3hidANcBN2aFjC"
    "8TcZivDBNp9/gLWsW0yAiunhExMNSBLRHfvanktfrzgM2ntaUvujwyDNibI2qjcMtW7Ntu"
    "Z9RImcslIPwtNNhhzeOsEMc+4gwgB9fVEmC+4cN11qPVE+eEvSgF6RdyWRj4AZkEuu8fd1"
    "kErx9tdFlEe2YIaEUmAhB4n/sPBAyvhyA4EHfHY5X8ZCflAd7/CGDuOQcaBkvTUBAhYIEW"
    "hrlKimgtfXzhtaiW14LbVgsb09fE+7PLMsbq3oNktsx2L3tSC3DKMW5/a3dH3f4n2bewy5"
    "3BJbfbPkKNMl7IgaWdx28n0wyl3lU3hcpx8AXoXKt9+Dbuyha+g9MzNrjT1xm3iM34JEsS"
    "2El6EthJLAmsQsa3au5sVVfOhU1G2GRSuG4t1YJcD1MKrleF6wkfu/v0wl60Y9lL2Iv2Am"
    "6F7MgHrzBssMMJO1GpdiL2FKB/1+sJO9Gu7UQ+0nnsRFkM0AOMRgb7Zw/m5xddWcowPnfa"
    "w077Uoow4XkGOA/PJONbAOsNhrdgr21Gt3S4hGmrWqYtUcoqENGZLaRzU0xnLKjTXnHzAL"
    "wmqF2Yc/kRs1BRDAtTGVuLSdKmsynVPUop4N4K9wTqfNeWFxpOKiywKaUvRlqbINi9ZPcF"
    "JSzTRFhZ5ZnsQZo9OiHuhpc5fRAFZ/pJFrN9utX+8OPwG040fV6PTzQWvzfofOFR97qhzK"
    "sSdT+FbNVAbJFWVf4YCYsOhuYqJbA1RhthiZ1MdrDaXuIi4hZ0WFtSGbQX3X779td1+Ye1"
    "ObU36H+6SCgAcfHrSGonscHWCvIsPGGqQt9DxaAPT/fTLFvsafoWexrbYp0py/OS9GKx3A"
    "n0wnlYHX9CQuA+55hboiJP8kuMrjYSVWnWbhsifzOLbByGoSOIN4DrU0a3DUa6K2zXLXve"
    "NwaDXuiLuehGRNH+3fWFxDZv+1NhnTSaIqGSBZGNJfdvGlbC+rUR9xitQD4H8iIOIX1pOU"
    "yPtIhDeI1cT4tDyFF/JLAoBGt8JAgYFy791ZdbpK/DalO8MpHKIgc2HdJ8M+GQPcwGSZLE"
    "8gDVQ+o9MiU21KquONlFe5+HEvcJsoWlw37VFaWgw/WZaOVzUB8kWoHCz8/DKlfMxMFAlS"
    "tDI/ilhlMmkmH1HPQZdoHIeAdpO0hGN4dHvYvtolPXiBBo660xv3qkx9Em77rm9JUXgc5b"
    "M1sku7ajS2onnRgmUCB/6zlaIZWXlhw9arpm/EAA0VRADACBifgGp4JHNJkZxhyYFib2sV"
    "Px1JZd3CBLfcmpaSzktSNU1JisiBcqPYrAnbYySWJDun04QlY7F+wOak2y/R+nGeG3O6cC"
    "5Hv0TpEFyeuaYmtNCzC6Mf466HakFngwNKVQUs/HDCz4mMqBjzEDfWhpyuwICVHVMHam/N"
    "QppvrmhjlII0DOAPLEUBMiCUboKS2Mw+1fC3A3WYOkX0YhQ1CsiH7Ii+p1j1bWP2TzrKgT"
    "fOCVeyqmd9Wy9EnFMC4j+LxYCkB5kepB02mCUh2xrKZr1LrdUUbrnlvV6QFGwI1TdM8bew"
    "dGMwSckfg5DH6RB0CsBeEFp5kOq5keWVyDLmlMccbZgSrGc/byRZU1j7bKwlbjUroZDLuj"
    "FlAR2zk1OsbJRZmLqG47qOG7sKO+CwQwRynrVExvzyHMXiw4nFK2QD8jmDwygGBJYZaYaI"
    "p4iHgubTtEVDvbXfmLj9D/hP63R/2voiubKBRRVXArp11XbQaXoV5XvbDoQSTPZy0r+jIW"
    "jGBYU4IFIxL1lG7B4JFDfD+3q99lM2G0wflbVbvXqH2m+vqYLINtrQASADH4fN3uBM7Lgs"
    "A968c+GxICYk3+h5TEk7lKHFkUAahWEQBxXFTKcVFFrBY7OBjK+XTy6GYBkl2x5AVVs0wQ"
    "H2/A+DgOMl/Wch9MFyKq8tyvTACLc6JXkdOeEihFyps47akUd3+FjAoJyR8JOT+kWMIPEU"
    "nBB8FfhctZBVPAo7SC05XmtDAKC6OwMAoLu2UFzGrZ7JYvZFSz6LZ8m2iXo43GNbdzvowb"
    "HrpjUz61PAsYNyTwiB03vIf9CSlQIBe1gEaP+CUM2O21B2Q6GTMQPBrmHJlxI1v5w2fJtv"
    "ErVmH0RD0FS6TbvLR7Pt1eJ7JAXjgLpKrJCS9nkys/N0Fk2ogkkPolgfC9VU89TSxl5QjQ"
    "1AL0XVfRO8AKnqyrhTzWZ94g/3sn3fGKnQ71GA+l/mW3/4ltmgjzmpd2y8j+Scf4Uup1v0"
    "q3nGAtMY7xXT/QziRi/8pVu9vjjY7lnY11d3PD9IAhbyPWcskUYlKVOqEFHArCk7DJkxDV"
    "BWK4brZOJZALn0K1LZE6ZExQ5Um+2tIhqvqVeN1BCr+LmIWplqDCbTH6RomFdb/K39TSNB"
    "40FZl5C2NE6cR3tf270iGhMjLNpGySdKTDVPXD+SzToSZnGw41OYsfasLFyQIyQYBMLFtV"
    "XraEU/IVOiVFHdm6cT3hW4+X8RT1KWrsia4YxnWoTxEsw5rghI5UaU13QEfDzLMkd5iIsZ"
    "FQnl6xMB5QsHaEnXGB0SNwTjRr2WkabjEJu92+n+svJkhnb5uU5LGDO4hkj2olexiMJrdb"
    "LURUQx9E+Ukb7IvID3OISMCcJTem4q6eElaORvtbuzvq9j/JncElP67tEWqUYW7nBY7x+u"
    "pQ6l11g9edRXiMO4Prm5404m4bxVgs+U6a4N3ptPsdqWc3rUOIx1j65aZre4ac/IBC3p7y"
    "uf76AmAubhl7PrfAxGRvNCvkc8uUNLUhZyo5ZarA0VUxOuF9ix3lwyF6QKbGuheywyTQC5"
    "tbdfTwuPnF/R5kE0GSVKd/0ymLUcr6mbF3cja3SJZ7FV/WWuYptI6GacUaWmlOH5TfQpiw"
    "heNCcP3wHBeVY3IdPRdVA3lfOXSVOLixmiLKMw9Ey+nnCVRRS3DzhGuspXt5woXdsvh4fA"
    "rPGdNyS24FHCvuD/TEBtNXwMDriuJ2vfMkz05p4wp/TrX8OaKmdQUKKAs3xHY3RPvm5nbw"
    "lfsS2HppGg+200G4JoRrQrgmhGtCmNWqomknuSaUZ3E8iV5wvPIcVzV/j4oo/roBU6s0Ri"
    "gjjJ5y0lox93Jwd9GTwM2t1OkOu4N+mJv2Rd7EGjTPDNDuVeP8jYqBvOscYeFiFS7W6qBf"
    "p/1CuFhfDaeFi7VmzjbhYn2NXBcu1lxMFi5W4WIVLtaSXaxtZGrKrJHgXnWvHG1yrUK/zz"
    "a3ajoMwplZLWfmAzKJlk83D5DUMWPq7CyLVn52lq6V82uRYmnso8qBsNu9hugeZ7J5HG+w"
    "eRzHbR7sjhThBEn55+Ggn6YDr0miIrKmUPAP0DVyiHLTBnA5GCE5OFZdM1pIMyLg8gEuku"
    "SqfeaFf/8/40uGMw=="
)
