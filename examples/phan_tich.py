"""An analyst's view of the demo: consolidate one district and the province, then look at
target attainment by district with pandas (and a chart where matplotlib is installed).

    .venv/bin/python examples/phan_tich.py xhht_demo
(run `xhht demo xhht_demo` first).
"""

import sys
from pathlib import Path

import xhht_xl as xx

demo = Path(sys.argv[1] if len(sys.argv) > 1 else "xhht_demo")
province = xx.consolidate(demo / "ket_qua" / "gui_tinh", level="tinh", as_of=__import__("datetime").date(2020, 9, 5),
                          store=demo / "ket_qua" / "phan_tich_intake")  # fmt: skip
frames = province.frames()
print(
    frames["totals"].query("milestone == 2020")[
        ["indicator", "num", "den", "rate", "verdict", "units_covered"]
    ]
)

detail = frames["detail"]
districts = detail[(detail["level"] == "huyen") & (detail["milestone"] == 2020) & detail["verdict"].notna()]
attainment = (
    districts.assign(met=districts["verdict"].isin(["dat", "vuot"]))
    .groupby("name")["met"]
    .mean()
    .mul(100)
    .sort_values()
    .rename("% chỉ tiêu đạt hoặc vượt (2020)")
)
print(attainment.round(1))
try:
    ax = attainment.plot.barh(figsize=(7, 6), title="Tỷ lệ chỉ tiêu năm 2020 đạt hoặc vượt, theo huyện")
    ax.figure.tight_layout()
    ax.figure.savefig(demo / "ket_qua" / "dat_chi_tieu_theo_huyen.png", dpi=90)
    print("Biểu đồ:", demo / "ket_qua" / "dat_chi_tieu_theo_huyen.png")
except ImportError:
    print("(cài matplotlib để vẽ biểu đồ: pip install matplotlib)")
