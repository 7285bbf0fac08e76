// The car classes of the synthetic demo. Geometry is a side view in car lengths: u runs from the
// rear (0) to the nose (1), v up from the ground. Classes differ in body, cabin, wheels and colour
// family; colour families overlap between classes on purpose so that shape has to be learnt.
import type { Point } from './raster';

export type RimStyle = 'fiveSpoke' | 'multiSpoke' | 'hubcap' | 'steel' | 'truck' | 'offroad';
export type ColorFamily = 'silver' | 'black' | 'white' | 'red' | 'blue' | 'lightBlue' | 'yellow' | 'orange' | 'green' | 'olive' | 'beige';
export type Extra = 'roofRack' | 'spareWheel' | 'stripe' | 'openBed' | 'seats' | 'busDoor' | 'slidingDoor' | 'ladder' | 'spoiler' | 'roofLight';

/** Ranges for the file-name fields (REFERENCE section 1), drawn per image. */
export interface CarMeta {
  years: readonly [number, number];
  msrp: readonly [number, number];
  wheelInches: readonly number[];
  hp: readonly [number, number];
  displacement: readonly number[]; // litres x 10, as in the dataset
  cylinders: readonly number[];
  width: number; height: number; length: number; // inches
  mpg: readonly [number, number];
  drivetrain: readonly string[];
  passengers: number;
  doors: number;
  bodyStyle: string;
}

export interface CarClassSpec {
  make: string;
  model: string;
  body: readonly Point[];
  bodyRound: number; // corner rounding, car lengths
  windows: readonly (readonly Point[])[];
  pillars: readonly (readonly [number, number, number, number])[]; // u0, v0, u1, v1 in body colour
  lines: readonly (readonly [number, number, number, number])[]; // door seams
  wheels: readonly number[]; // wheel centre u
  wheelRadius: number;
  tyre: number; // tyre thickness as a fraction of the wheel radius
  rim: RimStyle;
  headlight: Point;
  taillight: Point;
  colors: readonly ColorFamily[];
  extras: readonly Extra[];
  meta: CarMeta;
}

const sedan: CarClassSpec = {
  make: 'Demo Motors', model: 'Sedan',
  body: [[0, 0.08], [1, 0.08], [1, 0.16], [0.97, 0.2], [0.72, 0.225], [0.6, 0.35], [0.37, 0.355], [0.24, 0.245], [0.02, 0.235], [0, 0.2]],
  bodyRound: 0.012,
  windows: [[[0.7, 0.232], [0.595, 0.335], [0.375, 0.338], [0.27, 0.235]]],
  pillars: [[0.49, 0.23, 0.49, 0.345]],
  lines: [[0.49, 0.1, 0.49, 0.225], [0.67, 0.11, 0.68, 0.225], [0.3, 0.11, 0.3, 0.225]],
  wheels: [0.2, 0.8], wheelRadius: 0.075, tyre: 0.32, rim: 'hubcap',
  headlight: [0.975, 0.18], taillight: [0.01, 0.21],
  colors: ['silver', 'blue', 'black'], extras: [],
  meta: { years: [2015, 2021], msrp: [24, 34], wheelInches: [16, 17], hp: [160, 200], displacement: [18, 20, 25], cylinders: [4], width: 72, height: 57, length: 192, mpg: [28, 34], drivetrain: ['FWD'], passengers: 5, doors: 4, bodyStyle: '4dr' },
};

const hatchback: CarClassSpec = {
  make: 'Demo Motors', model: 'Hatchback',
  body: [[0, 0.1], [1, 0.1], [1, 0.2], [0.96, 0.255], [0.76, 0.285], [0.6, 0.46], [0.13, 0.47], [0.02, 0.4], [0, 0.3]],
  bodyRound: 0.02,
  windows: [[[0.735, 0.295], [0.59, 0.445], [0.15, 0.45], [0.07, 0.385], [0.07, 0.3]]],
  pillars: [[0.44, 0.29, 0.44, 0.45]],
  lines: [[0.44, 0.12, 0.44, 0.29], [0.72, 0.13, 0.72, 0.28]],
  wheels: [0.17, 0.83], wheelRadius: 0.095, tyre: 0.35, rim: 'multiSpoke',
  headlight: [0.97, 0.23], taillight: [0.01, 0.33],
  colors: ['red', 'white', 'lightBlue'], extras: [],
  meta: { years: [2016, 2021], msrp: [17, 24], wheelInches: [15, 16], hp: [100, 140], displacement: [12, 14, 16], cylinders: [3, 4], width: 68, height: 58, length: 160, mpg: [32, 40], drivetrain: ['FWD'], passengers: 5, doors: 4, bodyStyle: '4dr' },
};

const suv: CarClassSpec = {
  make: 'Trail Works', model: 'Ridge SUV',
  body: [[0, 0.13], [1, 0.13], [1, 0.31], [0.97, 0.37], [0.76, 0.395], [0.64, 0.57], [0.05, 0.58], [0, 0.5]],
  bodyRound: 0.015,
  windows: [[[0.745, 0.405], [0.635, 0.55], [0.07, 0.555], [0.07, 0.41]]],
  pillars: [[0.52, 0.4, 0.52, 0.56], [0.27, 0.4, 0.27, 0.56]],
  lines: [[0.52, 0.16, 0.52, 0.4], [0.27, 0.16, 0.27, 0.4]],
  wheels: [0.18, 0.82], wheelRadius: 0.11, tyre: 0.38, rim: 'fiveSpoke',
  headlight: [0.975, 0.34], taillight: [0.01, 0.45],
  colors: ['black', 'green', 'white'], extras: ['roofRack'],
  meta: { years: [2016, 2021], msrp: [38, 55], wheelInches: [19, 20], hp: [250, 320], displacement: [30, 35], cylinders: [6], width: 79, height: 70, length: 195, mpg: [19, 23], drivetrain: ['AWD', '4WD'], passengers: 7, doors: 4, bodyStyle: 'SUV' },
};

const pickup: CarClassSpec = {
  make: 'Trail Works', model: 'Hauler Pickup',
  body: [[0, 0.13], [1, 0.13], [1, 0.31], [0.97, 0.36], [0.76, 0.38], [0.68, 0.56], [0.46, 0.57], [0.44, 0.38], [0, 0.38]],
  bodyRound: 0.008,
  windows: [[[0.745, 0.39], [0.675, 0.54], [0.48, 0.545], [0.48, 0.39]]],
  pillars: [[0.6, 0.39, 0.6, 0.55]],
  lines: [[0.6, 0.16, 0.6, 0.38], [0.44, 0.15, 0.44, 0.38]],
  wheels: [0.16, 0.8], wheelRadius: 0.11, tyre: 0.4, rim: 'truck',
  headlight: [0.975, 0.33], taillight: [0.01, 0.33],
  colors: ['red', 'silver', 'olive'], extras: ['openBed'],
  meta: { years: [2014, 2021], msrp: [30, 48], wheelInches: [17, 18], hp: [280, 400], displacement: [35, 50, 57], cylinders: [6, 8], width: 80, height: 75, length: 230, mpg: [16, 21], drivetrain: ['RWD', '4WD'], passengers: 5, doors: 4, bodyStyle: 'Pickup' },
};

const van: CarClassSpec = {
  make: 'Metro-Haul', model: 'Cargo Van',
  body: [[0, 0.1], [1, 0.1], [1, 0.28], [0.96, 0.38], [0.88, 0.6], [0.03, 0.62], [0, 0.58]],
  bodyRound: 0.012,
  windows: [[[0.95, 0.385], [0.88, 0.56], [0.8, 0.565], [0.8, 0.39]]],
  pillars: [],
  lines: [[0.78, 0.12, 0.78, 0.58], [0.5, 0.12, 0.5, 0.58]],
  wheels: [0.17, 0.83], wheelRadius: 0.08, tyre: 0.4, rim: 'steel',
  headlight: [0.98, 0.27], taillight: [0.01, 0.3],
  colors: ['white', 'yellow', 'silver'], extras: ['ladder'],
  meta: { years: [2014, 2020], msrp: [32, 42], wheelInches: [16], hp: [180, 230], displacement: [25, 30], cylinders: [4, 6], width: 80, height: 100, length: 233, mpg: [17, 20], drivetrain: ['RWD'], passengers: 2, doors: 4, bodyStyle: 'Van' },
};

const coupe: CarClassSpec = {
  make: 'Demo Motors', model: 'GT Coupe',
  body: [[0, 0.07], [1, 0.07], [1, 0.12], [0.96, 0.15], [0.66, 0.18], [0.5, 0.28], [0.36, 0.285], [0.05, 0.19], [0, 0.17]],
  bodyRound: 0.01,
  windows: [[[0.64, 0.185], [0.495, 0.27], [0.37, 0.272], [0.25, 0.2]]],
  pillars: [],
  lines: [[0.58, 0.09, 0.6, 0.18]],
  wheels: [0.18, 0.81], wheelRadius: 0.08, tyre: 0.25, rim: 'fiveSpoke',
  headlight: [0.97, 0.135], taillight: [0.01, 0.17],
  colors: ['red', 'yellow', 'orange'], extras: ['stripe', 'spoiler'],
  meta: { years: [2017, 2021], msrp: [60, 95], wheelInches: [19, 20], hp: [400, 520], displacement: [30, 40], cylinders: [6, 8], width: 76, height: 50, length: 178, mpg: [18, 22], drivetrain: ['RWD', 'AWD'], passengers: 2, doors: 2, bodyStyle: '2dr' },
};

const convertible: CarClassSpec = {
  make: 'Demo Motors', model: 'Roadster-S',
  body: [[0, 0.075], [1, 0.075], [1, 0.14], [0.96, 0.17], [0.64, 0.195], [0.05, 0.205], [0, 0.18]],
  bodyRound: 0.012,
  windows: [[[0.63, 0.195], [0.57, 0.28], [0.555, 0.28], [0.6, 0.195]]],
  pillars: [],
  lines: [[0.55, 0.09, 0.55, 0.19]],
  wheels: [0.19, 0.81], wheelRadius: 0.075, tyre: 0.3, rim: 'multiSpoke',
  headlight: [0.97, 0.155], taillight: [0.01, 0.18],
  colors: ['red', 'lightBlue', 'white'], extras: ['seats'],
  meta: { years: [2015, 2021], msrp: [35, 50], wheelInches: [17, 18], hp: [180, 250], displacement: [20, 25], cylinders: [4], width: 69, height: 49, length: 155, mpg: [26, 30], drivetrain: ['RWD'], passengers: 2, doors: 2, bodyStyle: 'Convertible' },
};

const bus: CarClassSpec = {
  make: 'Metro-Haul', model: 'City Bus',
  body: [[0, 0.05], [1, 0.05], [1, 0.48], [0.985, 0.5], [0.015, 0.5], [0, 0.48]],
  bodyRound: 0.01,
  windows: [0, 1, 2, 3, 4, 5].map((i) => [[0.05 + i * 0.13, 0.3], [0.16 + i * 0.13, 0.3], [0.16 + i * 0.13, 0.44], [0.05 + i * 0.13, 0.44]] as Point[]).concat([[[0.9, 0.22], [0.985, 0.22], [0.985, 0.45], [0.9, 0.45]]]),
  pillars: [],
  lines: [[0.84, 0.07, 0.84, 0.44], [0.88, 0.07, 0.88, 0.44]],
  wheels: [0.14, 0.82], wheelRadius: 0.055, tyre: 0.4, rim: 'truck',
  headlight: [0.985, 0.12], taillight: [0.008, 0.15],
  colors: ['yellow', 'orange', 'green'], extras: ['busDoor', 'roofLight'],
  meta: { years: [2012, 2020], msrp: [90, 140], wheelInches: [22], hp: [250, 330], displacement: [67, 89], cylinders: [6], width: 102, height: 120, length: 480, mpg: [6, 8], drivetrain: ['RWD'], passengers: 40, doors: 2, bodyStyle: 'Bus' },
};

const minivan: CarClassSpec = {
  make: 'Metro-Haul', model: 'Family Minivan',
  body: [[0, 0.1], [1, 0.1], [1, 0.24], [0.95, 0.3], [0.79, 0.345], [0.62, 0.52], [0.05, 0.53], [0, 0.44]],
  bodyRound: 0.025,
  windows: [[[0.775, 0.35], [0.615, 0.5], [0.52, 0.505], [0.52, 0.355]], [[0.5, 0.355], [0.5, 0.505], [0.27, 0.505], [0.27, 0.355]], [[0.25, 0.355], [0.25, 0.505], [0.08, 0.505], [0.04, 0.43], [0.04, 0.36]]],
  pillars: [],
  lines: [[0.51, 0.12, 0.51, 0.35], [0.26, 0.12, 0.26, 0.35], [0.26, 0.34, 0.51, 0.34]],
  wheels: [0.16, 0.83], wheelRadius: 0.085, tyre: 0.35, rim: 'hubcap',
  headlight: [0.97, 0.25], taillight: [0.01, 0.38],
  colors: ['silver', 'beige', 'blue'], extras: ['slidingDoor'],
  meta: { years: [2015, 2021], msrp: [30, 42], wheelInches: [17, 18], hp: [240, 290], displacement: [35], cylinders: [6], width: 79, height: 69, length: 203, mpg: [21, 24], drivetrain: ['FWD'], passengers: 8, doors: 4, bodyStyle: 'Van' },
};

const wagon: CarClassSpec = {
  make: 'Demo Motors', model: 'Estate Wagon',
  body: [[0, 0.08], [1, 0.08], [1, 0.16], [0.97, 0.2], [0.72, 0.225], [0.6, 0.36], [0.06, 0.365], [0.01, 0.3], [0, 0.22]],
  bodyRound: 0.012,
  windows: [[[0.7, 0.232], [0.595, 0.345], [0.08, 0.348], [0.04, 0.3], [0.04, 0.235]]],
  pillars: [[0.47, 0.23, 0.47, 0.355], [0.22, 0.23, 0.22, 0.355]],
  lines: [[0.47, 0.1, 0.47, 0.225], [0.22, 0.1, 0.22, 0.225]],
  wheels: [0.19, 0.8], wheelRadius: 0.075, tyre: 0.3, rim: 'multiSpoke',
  headlight: [0.975, 0.18], taillight: [0.01, 0.26],
  colors: ['silver', 'blue', 'green'], extras: ['roofRack'],
  meta: { years: [2014, 2020], msrp: [28, 40], wheelInches: [17, 18], hp: [180, 250], displacement: [20, 25], cylinders: [4], width: 73, height: 59, length: 190, mpg: [26, 31], drivetrain: ['FWD', 'AWD'], passengers: 5, doors: 4, bodyStyle: 'Wagon' },
};

const offroader: CarClassSpec = {
  make: 'Trail Works', model: 'Rock Crawler',
  body: [[0, 0.16], [1, 0.16], [1, 0.33], [0.8, 0.35], [0.77, 0.58], [0.03, 0.58], [0.02, 0.33], [0, 0.33]],
  bodyRound: 0.006,
  windows: [[[0.755, 0.37], [0.74, 0.55], [0.5, 0.55], [0.5, 0.37]], [[0.47, 0.37], [0.47, 0.55], [0.07, 0.55], [0.07, 0.37]]],
  pillars: [],
  lines: [[0.49, 0.2, 0.49, 0.36]],
  wheels: [0.2, 0.8], wheelRadius: 0.13, tyre: 0.45, rim: 'offroad',
  headlight: [0.985, 0.3], taillight: [0.01, 0.3],
  colors: ['olive', 'beige', 'black'], extras: ['spareWheel'],
  meta: { years: [2014, 2021], msrp: [30, 45], wheelInches: [17, 18], hp: [270, 290], displacement: [36], cylinders: [6], width: 74, height: 73, length: 166, mpg: [17, 20], drivetrain: ['4WD'], passengers: 4, doors: 2, bodyStyle: 'SUV' },
};

const cityCar: CarClassSpec = {
  make: 'Pixel Cars', model: 'Bubble City',
  body: [[0, 0.1], [1, 0.1], [1, 0.28], [0.9, 0.36], [0.72, 0.62], [0.25, 0.64], [0.05, 0.5], [0, 0.35]],
  bodyRound: 0.05,
  windows: [[[0.72, 0.38], [0.66, 0.58], [0.3, 0.59], [0.16, 0.45], [0.18, 0.38]]],
  pillars: [[0.45, 0.37, 0.45, 0.6]],
  lines: [[0.45, 0.14, 0.45, 0.37]],
  wheels: [0.17, 0.83], wheelRadius: 0.1, tyre: 0.3, rim: 'hubcap',
  headlight: [0.96, 0.28], taillight: [0.01, 0.37],
  colors: ['lightBlue', 'yellow', 'white'], extras: [],
  meta: { years: [2016, 2021], msrp: [13, 18], wheelInches: [14, 15], hp: [70, 90], displacement: [10], cylinders: [3], width: 62, height: 61, length: 106, mpg: [36, 42], drivetrain: ['RWD'], passengers: 2, doors: 2, bodyStyle: '2dr' },
};

/** All demo classes; the first `n` (8..12) are used. The order keeps the most distinct shapes first. */
export const DEMO_CLASSES: readonly CarClassSpec[] = [sedan, hatchback, suv, pickup, van, coupe, convertible, bus, minivan, offroader, wagon, cityCar];

/** The label a class gets with label type `model`: make + `_` + model. */
export const classLabel = (spec: CarClassSpec): string => `${spec.make}_${spec.model}`;
