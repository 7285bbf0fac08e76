import * as fs from 'fs';
import * as path from 'path';
import { sharedDataDir } from './shared-data';
import { parseCarFilename, parseCarFilenameOrThrow, carLabel } from '../lib/data';

const SAMPLE_DIR = path.join(sharedDataDir(), 'cars-sample');

describe('parseCarFilename', () => {
  test('parses the REFERENCE example into typed fields', () => {
    const r = parseCarFilename('Audi_A5_2013_43_18_210_20_4_73_54_182_24_FWD_4_2_Convertible_eUH.jpg');
    expect(r).toEqual({
      ok: true,
      record: {
        make: 'Audi', model: 'A5', year: 2013, msrp: 43, frontWheelSize: 18, hp: 210, displacement: 20, engineType: 4,
        width: 73, height: 54, length: 182, gasMileage: 24, drivetrain: 'FWD', passengerCapacity: 4, passengerDoors: 2,
        bodyStyle: 'Convertible', id: 'eUH',
      },
    });
  });

  test('every real sample file parses; spaces and hyphens survive in make and model', () => {
    const names = fs.readdirSync(SAMPLE_DIR).filter((n) => n.endsWith('.jpg'));
    expect(names.length).toBe(6);
    for (const name of names) {
      const r = parseCarFilename(path.join(SAMPLE_DIR, name));
      if (!r.ok) throw new Error(`${name}: ${r.reason}`);
    }
    const mb = parseCarFilenameOrThrow('Mercedes-Benz_A Class_2020_34_17_180_20_4_70_56_179_24_AWD_5_4_4dr_enw.jpg');
    expect(mb.make).toBe('Mercedes-Benz');
    expect(mb.model).toBe('A Class');
    expect(mb.bodyStyle).toBe('4dr');
    expect(carLabel(mb, 'make')).toBe('Mercedes-Benz');
    expect(carLabel(mb, 'model')).toBe('Mercedes-Benz_A Class');
    const bmw = parseCarFilenameOrThrow('BMW_2-Series_2014_32_17_240_20_4_69_55_174_23_RWD_4_2_2dr_OGt.jpg');
    expect(bmw.model).toBe('2-Series');
  });

  test('nan becomes null, in numeric and text fields', () => {
    const r = parseCarFilenameOrThrow('Ford_F-150_2019_nan_18_nan_35_6_nan_77_nan_nan_nan_5_4_nan_abc.JPEG');
    expect(r.msrp).toBeNull();
    expect(r.hp).toBeNull();
    expect(r.width).toBeNull();
    expect(r.drivetrain).toBeNull();
    expect(r.bodyStyle).toBeNull();
    expect(r.height).toBe(77);
    const noModel = parseCarFilenameOrThrow('Ford_nan_2019_30_18_300_35_6_80_77_230_20_4WD_5_4_Pickup_abc.jpg');
    expect(noModel.model).toBeNull();
    expect(carLabel(noModel, 'make')).toBe('Ford');
    expect(carLabel(noModel, 'model')).toBeNull();
  });

  test.each([
    ['Audi_A5_2013_43_18_210_20_4_73_54_182_24_FWD_4_2_Convertible_eUH.gif', /extension/],
    ['Audi_A5_2013_43_18_210_20_4_73_54_182_24_FWD_4_2_eUH.jpg', /expected 17 .* found 16/],
    ['Audi_A5_2013_43_18_210_20_4_73_54_182_24_FWD_4_2_Convertible_x_eUH.jpg', /found 18/],
    ['Audi_A5_2013_4x3_18_210_20_4_73_54_182_24_FWD_4_2_Convertible_eUH.jpg', /msrp .*"4x3"/],
    ['Audi_A5_13_43_18_210_20_4_73_54_182_24_FWD_4_2_Convertible_eUH.jpg', /year/],
    ['Audi_A5_2013_43_18_210_20_4_73_54_182_24_FWD_4_2_Convertible_eU1.jpg', /id .*3 letters/],
    ['Audi_A5_2013_43_18_210_20_4_73_54_182_24_FWD_4_2_Convertible_eUHH.jpg', /id/],
    ['nan_A5_2013_43_18_210_20_4_73_54_182_24_FWD_4_2_Convertible_eUH.jpg', /make .*nan/],
    ['Audi__2013_43_18_210_20_4_73_54_182_24_FWD_4_2_Convertible_eUH.jpg', /model .*empty/],
    ['Audi_A5_2013_-43_18_210_20_4_73_54_182_24_FWD_4_2_Convertible_eUH.jpg', /msrp/],
    ['IMG_0001.jpg', /found 2/],
  ])('rejects %s with a reason', (name, reason) => {
    const r = parseCarFilename(name);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
    expect(() => parseCarFilenameOrThrow(name)).toThrow(/Cannot parse car file name/);
  });
});
