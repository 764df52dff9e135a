"""Draw the pictures the tutorials show (``docs/assets/*.png``) with the same calls as the pages.

Run from the repository root after changing st.viz: ``python docs/make_pictures.py``.
"""

from __future__ import annotations

import os

import strided as st

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")


def main() -> None:
    os.makedirs(ASSETS, exist_ok=True)
    pictures = {
        "conv-arithmetic-s2-p1.png": st.viz.plot_conv_arithmetic(5, 3, stride=2, padding=1, position=4),
        "conv-arithmetic-full.png": st.viz.plot_conv_arithmetic(5, 3, padding="full", position=0),
        "kernels-china.png": st.viz.plot_kernels(st.viz.load_image("china", gray=True),
                                                 ["gaussian-blur", "sharpen", "outline", "sobel-left", "sobel-top",
                                                  "emboss"], columns=4),
    }
    for name, figure in pictures.items():
        print(st.viz.save_figure(figure, os.path.join(ASSETS, name), dpi=72))


if __name__ == "__main__":
    main()
