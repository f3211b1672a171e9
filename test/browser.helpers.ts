// What the browser tests share: Debian's Chromium and a count of what each chart drew.
import fs from 'node:fs';

/** Debian's package (`apt-get install -y chromium`); playwright-core downloads no browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** The skip reason of a test that needs Chromium (false where it is installed). */
export function noBrowser(what: string): string | false {
  return fs.existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} — install it with \`apt-get install -y chromium\` to run ${what}`;
}

// Runs in the page, passed as a function (through the DevTools protocol, which the dashboard's
// CSP allows; a string would be eval'd in the page, which the CSP forbids). The tests compile
// without the DOM's types, so the page's global is declared loosely here.
declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const window: any; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface DrawnChart {
  id: string;
  coloured: number;
  inked: number;
}

/** In the page: per chart's canvas, inked pixels and pixels in a saturated colour (the axes and grid are grey). */
export const countPixels = (): DrawnChart[] =>
  [...document.querySelectorAll('section.chart')].map((section: any) => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const canvas = section.querySelector('canvas');
    if (!canvas) return { id: section.id, coloured: 0, inked: 0 };
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    let coloured = 0;
    let inked = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] < 128) continue;
      inked += 1;
      const max = Math.max(data[i], data[i + 1], data[i + 2]);
      const min = Math.min(data[i], data[i + 1], data[i + 2]);
      if (max - min > 60) coloured += 1;
    }
    return { id: section.id as string, coloured, inked };
  });

export interface XTicks {
  id: string;
  /** The x axis's title ('epoch', 'step', ...). */
  label: string;
  /** The labels drawn under the ticks, the unlabelled ticks of a log axis left out. */
  ticks: string[];
}

/** In a report page: per chart, the x tick labels uPlot drew (it keeps them in `axes[i]._values`). */
export const xTicks = (): XTicks[] =>
  window.__charts.map((c: any) => ({ id: c.id, label: c.plot.axes[0].label, ticks: c.plot.axes[0]._values.filter((v: string) => v !== '') })); // eslint-disable-line @typescript-eslint/no-explicit-any
